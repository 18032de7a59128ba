<?php

declare(strict_types=1);

namespace Tether\Http;

use Tether\Exception\TimeoutException;
use Tether\Exception\TransportException;

/**
 * A transport on PHP's HTTP stream wrapper: no extension needed. It opens
 * a connection per request; prefer CurlTransport when ext-curl is there.
 */
final class StreamTransport implements Transport
{
    public function send(string $method, string $url, array $headers, ?string $body, float $timeout, float $connectTimeout): Response
    {
        $lines = ['Connection: close'];
        foreach ($headers as $name => $value) {
            $lines[] = $name . ': ' . $value;
        }
        $http = [
            'method' => $method,
            'header' => implode("\r\n", $lines),
            'timeout' => $timeout,      // the stream wrapper's read timeout
            'ignore_errors' => true,    // the body of 4xx and 5xx answers too
            'follow_location' => 0,
            'protocol_version' => 1.1,
        ];
        if ($body !== null) {
            $http['content'] = $body;
        }
        $context = stream_context_create(['http' => $http]);
        $started = microtime(true);
        error_clear_last();
        $stream = @fopen($url, 'rb', false, $context);
        if ($stream === false) {
            $why = error_get_last()['message'] ?? 'no answer';
            $message = sprintf('failed to %s %s: %s', $method, $url, $why);
            if (microtime(true) - $started >= $timeout) {
                throw new TimeoutException($message, connectFailed: false);
            }
            throw new TransportException($message, str_contains($why, 'Connection refused'));
        }
        $meta = stream_get_meta_data($stream);
        $answer = stream_get_contents($stream);
        $timedOut = (bool) stream_get_meta_data($stream)['timed_out'];
        fclose($stream);
        if ($answer === false || $timedOut) {
            throw new TimeoutException(sprintf('failed to %s %s: timed out reading the answer', $method, $url), connectFailed: false);
        }
        $status = 0;
        $received = [];
        foreach ($meta['wrapper_data'] ?? [] as $line) {
            if (preg_match('{^HTTP/\S+\s+(\d{3})}', $line, $m)) {
                $status = (int) $m[1];
                $received = []; // a new response (after a 1xx)
                continue;
            }
            $pair = explode(':', $line, 2);
            if (count($pair) === 2) {
                $name = strtolower(trim($pair[0]));
                $value = trim($pair[1]);
                $received[$name] = isset($received[$name]) ? $received[$name] . ', ' . $value : $value;
            }
        }
        if ($status === 0) {
            throw new TransportException(sprintf('failed to %s %s: no HTTP status line', $method, $url), false);
        }
        return new Response($status, $received, $answer);
    }
}
