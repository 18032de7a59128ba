<?php

declare(strict_types=1);

namespace Tether\Result;

/** POST /api/users/{user}/send. */
final class UserSendResult
{
    /**
     * @param int  $queued   sessions the message was queued for
     * @param int  $sessions sessions the user has
     * @param bool $stored   kept in the user's own stream (-user-streams), even with no session
     */
    public function __construct(
        public readonly string $user,
        public readonly int $queued,
        public readonly int $sessions,
        public readonly bool $stored,
    ) {
    }

    public static function fromArray(array $a): self
    {
        return new self((string) ($a['user'] ?? ''), (int) ($a['queued'] ?? 0), (int) ($a['sessions'] ?? 0), (bool) ($a['stored'] ?? false));
    }
}
