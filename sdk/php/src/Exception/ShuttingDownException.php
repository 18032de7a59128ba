<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 503 shutting_down: the server is draining (Retry-After: 1); retried by the client, then thrown. */
class ShuttingDownException extends ServiceUnavailableException
{
}
