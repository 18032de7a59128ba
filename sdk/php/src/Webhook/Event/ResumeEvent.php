<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/** "resume": the client came back within the grace window; nothing was lost. */
final class ResumeEvent extends WebhookEvent
{
    /** Server messages replayed after the resume. */
    public readonly int $replayedToClient;
    /** Client messages sent again, or for the first time, after it. */
    public readonly int $replayedFromClient;
    /** Time without a connection, in milliseconds. */
    public readonly int $offlineMs;

    protected function init(array $a): void
    {
        $counts = is_array($a['counts'] ?? null) ? $a['counts'] : [];
        $this->replayedToClient = (int) ($counts['replayed_to_client'] ?? 0);
        $this->replayedFromClient = (int) ($counts['replayed_from_client'] ?? 0);
        $this->offlineMs = (int) ($counts['offline_ms'] ?? 0);
    }
}
