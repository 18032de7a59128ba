<?php

declare(strict_types=1);

namespace Tether\Result;

/** A room with members: GET /api/rooms, GET /api/rooms/{room}. */
final class Room
{
    /** @param list<string> $members session IDs, sorted */
    public function __construct(
        public readonly string $name,
        public readonly int $size,
        public readonly array $members,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self((string) ($a['name'] ?? ''), (int) ($a['size'] ?? 0), array_map('strval', array_values($a['members'] ?? [])));
    }
}
