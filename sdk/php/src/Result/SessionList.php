<?php

declare(strict_types=1);

namespace Tether\Result;

/** GET /api/sessions: one page. */
final class SessionList
{
    /**
     * @param list<SessionInfo> $sessions   oldest first
     * @param string|null       $nextCursor more remain: pass it as `cursor` for the next page
     */
    public function __construct(
        public readonly array $sessions,
        public readonly ?string $nextCursor,
    ) {
    }

    public static function fromArray(array $a): self
    {
        $next = (string) ($a['next_cursor'] ?? '');
        return new self(
            array_map(static fn (array $s) => SessionInfo::fromArray($s), array_values($a['sessions'] ?? [])),
            $next === '' ? null : $next,
        );
    }
}
