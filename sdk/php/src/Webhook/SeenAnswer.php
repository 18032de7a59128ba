<?php

declare(strict_types=1);

namespace Tether\Webhook;

/** The answer given to a handled event, to give again to its repeats. */
final class SeenAnswer
{
    public function __construct(
        public readonly int $status,
        public readonly string $body,
        public readonly string $contentType = 'application/json',
    ) {
    }

    public function toArray(): array
    {
        return ['status' => $this->status, 'body' => $this->body, 'content_type' => $this->contentType];
    }

    public static function fromArray(array $a): self
    {
        return new self((int) ($a['status'] ?? 200), (string) ($a['body'] ?? ''), (string) ($a['content_type'] ?? 'application/json'));
    }
}
