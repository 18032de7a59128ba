<?php

declare(strict_types=1);

namespace Tether\Result;

/** DELETE /api/sessions/{id}. */
final class KickResult
{
    public function __construct(
        public readonly string $session,
        public readonly bool $closed,
        public readonly string $reason,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self((string) ($a['session'] ?? ''), (bool) ($a['closed'] ?? false), (string) ($a['reason'] ?? ''));
    }
}
