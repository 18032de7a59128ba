<?php

declare(strict_types=1);

namespace Tether\Result;

/** POST /api/rooms/{room}/members and DELETE /api/rooms/{room}/members/{session}. */
final class Membership
{
    /** @param list<string> $rooms every room the session is in now */
    public function __construct(
        public readonly string $room,
        public readonly string $session,
        public readonly array $rooms,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self((string) ($a['room'] ?? ''), (string) ($a['session'] ?? ''), array_map('strval', array_values($a['rooms'] ?? [])));
    }
}
