<?php
// Calling the tether HTTP API from PHP.
//
// The tether binary, started with -api-key, serves a JSON API under /api/.
// Every call carries "Authorization: Bearer <api key>". This file needs no
// extension beyond PHP's standard streams (no curl, no Composer).
//
// Configuration, from the environment:
//   TETHER_API_URL  the tether binary's base URL, e.g. http://127.0.0.1:8080
//   TETHER_API_KEY  the key the binary was started with (-api-key)

declare(strict_types=1);

/** An error answer from the tether API, or no answer at all. */
final class TetherApiError extends RuntimeException
{
    /**
     * @param int    $status   the HTTP status, 0 when tether could not be reached
     * @param string $apiCode  the "code" of tether's {"error":{"code":…,"message":…}}
     */
    public function __construct(
        public readonly int $status,
        public readonly string $apiCode,
        string $message,
    ) {
        parent::__construct($message);
    }

    /** Whether trying again later may work: tether unreachable, or a 5xx/429. */
    public function isTemporary(): bool
    {
        return $this->status === 0 || $this->status === 429 || $this->status >= 500;
    }
}

/**
 * Calls the tether HTTP API and returns the decoded JSON answer.
 *
 *     tether_api('POST', '/api/rooms/lobby/broadcast', ['type' => 'text', 'text' => 'hi']);
 *     tether_api('POST', '/api/sessions/' . rawurlencode($id) . '/send', ['type' => 'text', 'text' => 'hi']);
 *     tether_api('POST', '/api/rooms/' . rawurlencode($room) . '/members', ['session' => $id]);
 *
 * @param string     $method HTTP method
 * @param string     $path   path under the base URL; URL-encode the variable parts
 * @param array|null $body   sent as JSON; null sends no body
 * @return array the decoded answer
 * @throws TetherApiError when tether cannot be reached or answers an error
 */
function tether_api(string $method, string $path, ?array $body = null): array
{
    $base = rtrim((string) getenv('TETHER_API_URL'), '/');
    $key = (string) getenv('TETHER_API_KEY');
    if ($base === '' || $key === '') {
        throw new TetherApiError(0, 'not_configured', 'set TETHER_API_URL and TETHER_API_KEY');
    }
    $headers = ['Authorization: Bearer ' . $key, 'Accept: application/json'];
    $http = [
        'method' => $method,
        'timeout' => 5,          // seconds; keep it below tether's -webhook-timeout
        'ignore_errors' => true, // give us the body of 4xx/5xx answers too
        'follow_location' => 0,
    ];
    if ($body !== null) {
        $http['content'] = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $headers[] = 'Content-Type: application/json';
    }
    $http['header'] = implode("\r\n", $headers);

    $raw = @file_get_contents($base . $path, false, stream_context_create(['http' => $http]));
    // $http_response_header is set by file_get_contents in this scope
    // (PHP 8.4 adds http_get_last_response_headers()).
    $statusLine = isset($http_response_header) ? ($http_response_header[0] ?? '') : '';
    if ($raw === false || !preg_match('{^HTTP/\S+\s+(\d{3})}', $statusLine, $m)) {
        $why = error_get_last()['message'] ?? 'no answer';
        throw new TetherApiError(0, 'unreachable', "$method $path: tether unreachable: $why");
    }
    $status = (int) $m[1];
    $answer = json_decode($raw, true);
    if ($status >= 200 && $status < 300) {
        return is_array($answer) ? $answer : [];
    }
    // Errors look like {"error":{"code":"room_not_found","message":"…"}}.
    $code = $answer['error']['code'] ?? 'http_' . $status;
    $message = $answer['error']['message'] ?? trim($raw);
    throw new TetherApiError($status, (string) $code, "$method $path: $status $code: $message");
}
