<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/** "room_recovery": for one room of a client that lost its session, what came back and what is gone. */
final class RoomRecoveryEvent extends WebhookEvent
{
    /** The room; "" is the user's own stream. */
    public readonly string $room;
    /** none, history-trimmed, epoch-changed, diverged, not-readmitted */
    public readonly string $reason;
    /** Whether the session is in the room again. */
    public readonly bool $readmitted;
    /** Messages replayed to the client, in order. */
    public readonly int $recovered;
    /** Messages history still holds but that were not replayed (read them with Client::history()). */
    public readonly int $skipped;
    /** Messages history no longer held; null when nobody can know (epoch-changed, diverged). */
    public readonly ?int $lost;

    protected function init(array $a): void
    {
        $r = is_array($a['recovery'] ?? null) ? $a['recovery'] : [];
        $this->room = (string) ($a['room'] ?? '');
        $this->reason = (string) ($a['reason'] ?? '');
        $this->readmitted = (bool) ($r['readmitted'] ?? false);
        $this->recovered = (int) ($r['recovered'] ?? 0);
        $this->skipped = (int) ($r['skipped'] ?? 0);
        $this->lost = isset($r['lost']) ? (int) $r['lost'] : null;
    }
}
