<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/** "presence": a user entered or left a room whose -rooms entry has "presence": true. */
final class PresenceEvent extends WebhookEvent
{
    public const JOIN = 'join';
    public const LEAVE = 'leave';

    public readonly string $room;
    /** PresenceEvent::JOIN or PresenceEvent::LEAVE */
    public readonly string $presence;

    protected function init(array $a): void
    {
        $this->room = (string) ($a['room'] ?? '');
        $this->presence = (string) ($a['presence'] ?? '');
    }

    public function isJoin(): bool
    {
        return $this->presence === self::JOIN;
    }

    public function isLeave(): bool
    {
        return $this->presence === self::LEAVE;
    }
}
