<?php

declare(strict_types=1);

namespace Tether\Webhook;

use Tether\Webhook\Event\WebhookEvent;

/**
 * A valid request whose idempotency key was handled already: tether's retry
 * after the answer was lost, or a captured request sent again within the
 * tolerance. Do not do the work again: answer $answer, the first answer.
 */
class ReplayedEventException extends VerificationException
{
    public function __construct(public readonly WebhookEvent $event, public readonly SeenAnswer $answer)
    {
        parent::__construct("event {$event->id} was handled already", $answer->status);
    }
}
