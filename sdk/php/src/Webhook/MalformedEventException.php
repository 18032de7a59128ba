<?php

declare(strict_types=1);

namespace Tether\Webhook;

/** Signed, but not a tether event, or its id is not the Tether-Idempotency-Key. Answer 400. */
class MalformedEventException extends VerificationException
{
}
