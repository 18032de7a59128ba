<?php

declare(strict_types=1);

namespace Tether\Result;

use Tether\Message;

/** One message of a room's history. */
final class HistoryMessage
{
    public function __construct(
        public readonly int $offset,
        public readonly Message $message,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self((int) ($a['offset'] ?? 0), Message::fromArray($a) ?? Message::binary(''));
    }
}
