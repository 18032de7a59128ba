<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/**
 * "readmit" (-readmit webhook): a client that lost its session asks to get
 * back into a room its token does not name. Awaited: answer
 * Reply::readmit(true) to let it back; anything else refuses.
 */
final class ReadmitEvent extends WebhookEvent
{
    public readonly string $room;

    protected function init(array $a): void
    {
        $this->room = (string) ($a['room'] ?? '');
    }
}
