<?php

declare(strict_types=1);

namespace Tether\Exception;

/** No answer within the client's timeout; the server may have done the work. */
class TimeoutException extends TransportException
{
}
