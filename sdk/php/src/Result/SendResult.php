<?php

declare(strict_types=1);

namespace Tether\Result;

/** POST /api/sessions/{id}/send. */
final class SendResult
{
    /**
     * @param int      $queued  1: the message is in the session's replay buffer
     * @param int|null $pending messages the client has not acknowledged yet (null if the server did not say)
     */
    public function __construct(
        public readonly string $session,
        public readonly int $queued,
        public readonly ?int $pending,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self((string) ($a['session'] ?? ''), (int) ($a['queued'] ?? 0), isset($a['pending']) ? (int) $a['pending'] : null);
    }
}
