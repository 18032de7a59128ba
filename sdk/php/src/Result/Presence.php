<?php

declare(strict_types=1);

namespace Tether\Result;

/** GET /api/rooms/{room}/presence. */
final class Presence
{
    /**
     * @param array<string,string> $sessions session ID → user ("" for anonymous), sorted by session ID
     * @param list<string>         $users    distinct users, sorted; anonymous sessions not listed
     */
    public function __construct(
        public readonly string $room,
        public readonly array $sessions,
        public readonly array $users,
    ) {
    }

    public static function fromArray(array $a): self
    {
        $sessions = [];
        foreach ($a['sessions'] ?? [] as $s) {
            $sessions[(string) ($s['session'] ?? '')] = (string) ($s['user'] ?? '');
        }
        return new self((string) ($a['room'] ?? ''), $sessions, array_map('strval', array_values($a['users'] ?? [])));
    }
}
