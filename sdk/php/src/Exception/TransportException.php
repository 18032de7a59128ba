<?php

declare(strict_types=1);

namespace Tether\Exception;

/** No HTTP answer: tether could not be reached, or the connection failed. */
class TransportException extends \RuntimeException implements TetherException
{
    /**
     * @param bool $connectFailed true when the request certainly never reached the server
     *                            (connection refused, unknown host): safe to send again
     */
    public function __construct(string $message, public readonly bool $connectFailed = false, ?\Throwable $previous = null)
    {
        parent::__construct($message, 0, $previous);
    }
}
