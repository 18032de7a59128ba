<?php

declare(strict_types=1);

namespace Tether\Tests;

use Tether\Http\StreamTransport;
use Tether\Http\Transport;

/** ClientTest's tests on the transport for machines without ext-curl. */
final class StreamTransportClientTest extends ClientTest
{
    protected static ?\Tether\Tests\Support\TetherServer $server = null;

    protected function transport(): Transport
    {
        return new StreamTransport();
    }
}
