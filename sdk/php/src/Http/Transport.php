<?php

declare(strict_types=1);

namespace Tether\Http;

use Tether\Exception\TransportException;

/**
 * Sends one HTTP request. The Client adds authentication, retries and
 * error mapping; a transport only moves bytes. CurlTransport is the
 * default (ext-curl), StreamTransport needs nothing but PHP's streams.
 * Implement it to plug in another HTTP stack (a PSR-18 client, Swoole's
 * coroutine client, …).
 */
interface Transport
{
    /**
     * @param string               $method         GET, POST, DELETE
     * @param string               $url            the absolute URL
     * @param array<string,string> $headers        request headers
     * @param string|null          $body           the request body; null sends none
     * @param float                $timeout        seconds for the whole request
     * @param float                $connectTimeout seconds to connect
     *
     * @throws TransportException when no HTTP answer came (a 4xx/5xx is an answer, not an exception);
     *                            TransportException::$connectFailed says the request certainly did not reach the server
     */
    public function send(string $method, string $url, array $headers, ?string $body, float $timeout, float $connectTimeout): Response;
}
