<?php

declare(strict_types=1);

namespace Tether\Result;

/** POST /api/rooms/{room}/broadcast. */
final class BroadcastResult
{
    /**
     * @param string      $epoch   the room stream's epoch
     * @param int         $offset  the message's offset in the room
     * @param int         $queued  members it was queued for (< members when one was closing or overflowed)
     * @param int         $members the room's members
     * @param bool        $stored  kept in the room's history
     * @param string|null $warning published but not queued for every member: do NOT send it again
     */
    public function __construct(
        public readonly string $room,
        public readonly string $epoch,
        public readonly int $offset,
        public readonly int $queued,
        public readonly int $members,
        public readonly bool $stored,
        public readonly ?string $warning,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self(
            (string) ($a['room'] ?? ''),
            (string) ($a['epoch'] ?? ''),
            (int) ($a['offset'] ?? 0),
            (int) ($a['queued'] ?? 0),
            (int) ($a['members'] ?? 0),
            (bool) ($a['stored'] ?? false),
            isset($a['warning']) ? (string) $a['warning'] : null,
        );
    }
}
