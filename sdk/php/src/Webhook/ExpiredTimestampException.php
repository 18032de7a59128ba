<?php

declare(strict_types=1);

namespace Tether\Webhook;

/** The signature's timestamp is beyond the tolerance: a replayed request, or a wrong clock. Answer 401. */
class ExpiredTimestampException extends InvalidSignatureException
{
}
