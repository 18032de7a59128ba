<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/**
 * "open": a session started. After a resume that was impossible, $reason
 * says why the old session was lost (expired, overflow, server-restarted, …)
 * and the counts say what was lost; for a plain new session they are null.
 */
final class OpenEvent extends WebhookEvent
{
    /** The loss reason of the session this one replaced; null for a plain new session. */
    public readonly ?string $reason;
    /** Server messages the old session had that its client never received; null: unknown (-1 on the wire) or no old session. */
    public readonly ?int $lostToClient;
    /** Client messages of unknown fate; null: unknown or no old session. */
    public readonly ?int $lostFromClient;
    /** Client messages the old session never processed, sent again in this one. */
    public readonly int $carried;
    /** Missed messages that were room messages (see the room_recovery events). */
    public readonly int $inRooms;

    protected function init(array $a): void
    {
        $counts = is_array($a['counts'] ?? null) ? $a['counts'] : null;
        $reason = (string) ($a['reason'] ?? '');
        $this->reason = $reason === '' ? null : $reason;
        $this->lostToClient = $counts === null ? null : self::count($counts, 'lost_to_client');
        $this->lostFromClient = $counts === null ? null : self::count($counts, 'lost_from_client');
        $this->carried = (int) ($counts['carried'] ?? 0);
        $this->inRooms = (int) ($counts['in_rooms'] ?? 0);
    }

    /** Whether this session replaced one whose resume was impossible. */
    public function replacesLostSession(): bool
    {
        return $this->reason !== null;
    }
}
