<?php

declare(strict_types=1);

namespace Tether\Http;

use Tether\Exception\TimeoutException;
use Tether\Exception\TransportException;

/** The default transport, on ext-curl. One handle is reused (keep-alive). */
final class CurlTransport implements Transport
{
    /** @var \CurlHandle|null */
    private $handle = null;

    public function send(string $method, string $url, array $headers, ?string $body, float $timeout, float $connectTimeout): Response
    {
        $this->handle ??= curl_init();
        $h = $this->handle;
        curl_reset($h);
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $lines[] = 'Expect:'; // no "100-continue" round trip for large bodies
        $received = [];
        curl_setopt_array($h, [
            CURLOPT_URL => $url,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_TIMEOUT_MS => max(1, (int) round($timeout * 1000)),
            CURLOPT_CONNECTTIMEOUT_MS => max(1, (int) round($connectTimeout * 1000)),
            CURLOPT_NOSIGNAL => true,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
            CURLOPT_HEADERFUNCTION => static function ($ch, string $line) use (&$received): int {
                $pair = explode(':', $line, 2);
                if (count($pair) === 2) {
                    $name = strtolower(trim($pair[0]));
                    $value = trim($pair[1]);
                    $received[$name] = isset($received[$name]) ? $received[$name] . ', ' . $value : $value;
                } elseif (str_starts_with($line, 'HTTP/')) {
                    $received = []; // a new response (after a 1xx)
                }
                return strlen($line);
            },
        ]);
        if ($body !== null) {
            curl_setopt($h, CURLOPT_POSTFIELDS, $body);
        } elseif ($method === 'GET') {
            curl_setopt($h, CURLOPT_HTTPGET, true);
        }
        $answer = curl_exec($h);
        if ($answer === false) {
            $errno = curl_errno($h);
            $message = sprintf('failed to %s %s: %s', $method, $url, curl_error($h));
            if ($errno === CURLE_OPERATION_TIMEDOUT) {
                throw new TimeoutException($message, connectFailed: false);
            }
            $connectFailed = in_array($errno, [CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST], true);
            throw new TransportException($message, $connectFailed);
        }
        return new Response((int) curl_getinfo($h, CURLINFO_RESPONSE_CODE), $received, (string) $answer);
    }
}
