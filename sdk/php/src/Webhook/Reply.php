<?php

declare(strict_types=1);

namespace Tether\Webhook;

use Tether\Message;

/** Bodies of webhook answers. */
final class Reply
{
    /**
     * The answer to a "message" event that sends these messages back to
     * the session, in order: {"messages":[…]}. No message sends nothing.
     *
     * @return array{messages: list<array<string,string>>}
     */
    public static function messages(Message ...$messages): array
    {
        return ['messages' => array_map(static fn (Message $m) => $m->toArray(), array_values($messages))];
    }

    /**
     * The answer to a "readmit" event: {"readmit": true} lets the client
     * back into the room; false (or anything else) refuses it.
     *
     * @return array{readmit: bool}
     */
    public static function readmit(bool $yes): array
    {
        return ['readmit' => $yes];
    }
}
