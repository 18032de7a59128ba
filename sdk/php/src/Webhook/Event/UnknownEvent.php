<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/** An event of a type this SDK does not know (a newer server): its fields are in $raw. Answer 2xx to accept it. */
final class UnknownEvent extends WebhookEvent
{
    protected function init(array $a): void
    {
    }
}
