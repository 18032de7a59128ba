<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/** "close": the session is over. */
final class CloseEvent extends WebhookEvent
{
    /** client-closed, expired, server-shutdown, kicked, protocol-violation, policy-violation, overflow, server-error, replaced */
    public readonly string $cause;
    /** Details, possibly "". */
    public readonly string $error;
    /** Server messages the client never acknowledged. */
    public readonly int $unacked;
    /** The kick reason (cause "kicked"), else null. */
    public readonly ?string $reason;

    protected function init(array $a): void
    {
        $this->cause = (string) ($a['cause'] ?? '');
        $this->error = (string) ($a['error'] ?? '');
        $this->unacked = (int) ($a['counts']['unacked'] ?? 0);
        $reason = (string) ($a['reason'] ?? '');
        $this->reason = $reason === '' ? null : $reason;
    }
}
