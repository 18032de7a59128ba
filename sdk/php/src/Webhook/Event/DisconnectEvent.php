<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/** "disconnect": the connection is lost, the session waits for its client (within the grace window). */
final class DisconnectEvent extends WebhookEvent
{
    /** network-lost, heartbeat-timeout, client-detached, server-restart, rate-limited */
    public readonly string $cause;
    /** Details, possibly "". */
    public readonly string $error;

    protected function init(array $a): void
    {
        $this->cause = (string) ($a['cause'] ?? '');
        $this->error = (string) ($a['error'] ?? '');
    }
}
