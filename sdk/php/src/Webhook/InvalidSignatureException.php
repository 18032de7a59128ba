<?php

declare(strict_types=1);

namespace Tether\Webhook;

/** No, a malformed, or a wrong Tether-Signature (wrong secret, or the body was changed). Answer 401. */
class InvalidSignatureException extends VerificationException
{
}
