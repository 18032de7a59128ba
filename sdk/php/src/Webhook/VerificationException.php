<?php

declare(strict_types=1);

namespace Tether\Webhook;

use Tether\Exception\TetherException;

/** A webhook request that must not be handled. $status is the answer to give it. */
class VerificationException extends \RuntimeException implements TetherException
{
    /** @param int $status the HTTP status to answer: 401 for a bad signature, 400 for a malformed request */
    public function __construct(string $message, public readonly int $status = 401, ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }
}
