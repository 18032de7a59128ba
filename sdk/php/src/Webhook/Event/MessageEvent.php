<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

use Tether\Message;

/**
 * "message": a client message, exactly once per message, in order. The
 * client is acknowledged only once the backend answered 2xx (or another
 * 4xx: refused). A 2xx body {"messages":[…]} (Reply::messages()) is sent
 * back to this session.
 */
final class MessageEvent extends WebhookEvent
{
    /** The message's sequence number in the session's client→server stream. */
    public readonly int $seq;
    public readonly Message $message;

    protected function init(array $a): void
    {
        $m = is_array($a['message'] ?? null) ? $a['message'] : [];
        $this->seq = (int) ($m['seq'] ?? 0);
        $this->message = Message::fromArray($m) ?? throw new \InvalidArgumentException('not a tether event: "message" is not a text or binary message');
    }

    /** The text of a text message, null for a binary one. */
    public function text(): ?string
    {
        return $this->message->isText() ? $this->message->payload : null;
    }
}
