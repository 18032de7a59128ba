<?php

declare(strict_types=1);

namespace Tether\Tests\Support;

/** The server closed the WebSocket; the code is the close code. */
final class ClosedException extends \RuntimeException
{
}
