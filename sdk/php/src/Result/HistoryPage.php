<?php

declare(strict_types=1);

namespace Tether\Result;

/** GET /api/rooms/{room}/history. */
final class HistoryPage
{
    /**
     * @param string               $epoch    "" when the room never had a message
     * @param int                  $first    the oldest offset kept (last + 1 when none is)
     * @param int                  $last     the room's last offset
     * @param list<HistoryMessage> $messages oldest first
     * @param int|null             $next     with $hasMore: the `since` of the next page
     */
    public function __construct(
        public readonly string $room,
        public readonly string $epoch,
        public readonly int $first,
        public readonly int $last,
        public readonly array $messages,
        public readonly bool $hasMore,
        public readonly ?int $next,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self(
            (string) ($a['room'] ?? ''),
            (string) ($a['epoch'] ?? ''),
            (int) ($a['first'] ?? 0),
            (int) ($a['last'] ?? 0),
            array_map(static fn (array $m) => HistoryMessage::fromArray($m), array_values($a['messages'] ?? [])),
            (bool) ($a['has_more'] ?? false),
            isset($a['next']) ? (int) $a['next'] : null,
        );
    }
}
