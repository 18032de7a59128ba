<?php
// The webhook endpoint: tether POSTs every session event here.
//
// Events: "open", "message", "disconnect", "resume", "close", "readmit",
// "room_recovery", "presence" (README.md has
// their fields). This backend
//   1. verifies the Tether-Signature header (401 if it is wrong),
//   2. handles each Tether-Idempotency-Key once (a repeat gets the first answer),
//   3. runs a tiny chat bot on "message" events:
//        "/echo hello"  → replies "hello" to the sender only (the Reply body)
//        "/join room"   → adds the sender to a room through the tether API
//        anything else  → broadcast to the room "lobby" through the tether API
//   4. logs every request as one JSON line (so you, and the tests, can see what came in).
//
// The answer tells tether what to do:
//   2xx          done; for "message" events the body may list messages to send back
//   503 (5xx)    try again later: tether retries with backoff, same key, same body
//   401/400 (4xx) never retry this event
//
// Configuration, from the environment:
//   TETHER_WEBHOOK_SECRET       the binary's -webhook-secret (required)
//   TETHER_API_URL, TETHER_API_KEY   see api.php
//   TETHER_EXAMPLE_STATE_DIR    where the seen keys and the event log go;
//                               default: sys_get_temp_dir()/tether-php-example
//   TETHER_EXAMPLE_ROOM         the chat room; default "lobby"

declare(strict_types=1);

require_once __DIR__ . '/signature.php';
require_once __DIR__ . '/store.php';
require_once __DIR__ . '/api.php';

/** The directory holding this example's state, created on first use. */
function state_dir(): string
{
    $dir = (string) getenv('TETHER_EXAMPLE_STATE_DIR');
    if ($dir === '') {
        $dir = sys_get_temp_dir() . '/tether-php-example';
    }
    if (!is_dir($dir) && !@mkdir($dir, 0700, true) && !is_dir($dir)) {
        throw new RuntimeException("cannot create $dir");
    }
    return $dir;
}

/** Appends one JSON line to events.log (LOCK_EX: lines never interleave). */
function log_request(array $entry): void
{
    $entry = ['received_at' => gmdate('Y-m-d\TH:i:s\Z')] + $entry;
    file_put_contents(
        state_dir() . '/events.log',
        json_encode($entry, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE) . "\n",
        FILE_APPEND | LOCK_EX,
    );
}

/** Sends a JSON answer. */
function respond(int $status, mixed $body): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
}

/**
 * Handles one verified, new event.
 *
 * @return array{0:int, 1:mixed} the HTTP status and the JSON body to answer
 * @throws TetherApiError when the tether API call fails
 */
function handle_event(array $event): array
{
    $room = (string) (getenv('TETHER_EXAMPLE_ROOM') ?: 'lobby');
    switch ($event['type'] ?? '') {
        case 'message':
            $msg = $event['message'] ?? [];
            if (($msg['type'] ?? '') !== 'text') {
                return [200, ['messages' => []]]; // binary: this bot ignores it
            }
            $text = (string) ($msg['text'] ?? '');

            // "/echo hello": answer the sender directly. The Reply body is
            // sent back to that session only, in order after the message.
            if (str_starts_with($text, '/echo ')) {
                return [200, ['messages' => [['type' => 'text', 'text' => substr($text, 6)]]]];
            }

            // "/join support": add the session to a room through the API.
            if (str_starts_with($text, '/join ')) {
                $target = trim(substr($text, 6));
                tether_api('POST', '/api/rooms/' . rawurlencode($target) . '/members', ['session' => $event['session']]);
                return [200, ['messages' => [['type' => 'text', 'text' => "joined $target"]]]];
            }

            // Anything else: broadcast it to everybody in the room (the
            // sender included), through the tether HTTP API.
            tether_api('POST', '/api/rooms/' . rawurlencode($room) . '/broadcast', ['type' => 'text', 'text' => $text]);
            return [200, ['messages' => []]];

        case 'readmit':
            // A client that lost its session asks to get back into a room
            // it had joined with "/join" (rooms of its token come back by
            // themselves). This bot lets it back into any room; a real
            // application checks the user's right to the room here.
            return [200, ['readmit' => true]];

        case 'room_recovery': // per room: "recovery" says what came back and what is lost, "reason" why
        case 'presence':      // a user entered or left a room with presence on
        case 'open':       // a new session; "counts"/"reason" say what was lost if a resume failed
        case 'disconnect': // the connection dropped; the session waits for its client ("cause")
        case 'resume':     // the client came back; "counts" says how much was replayed
        case 'close':      // the session is over ("cause", "counts.unacked")
        default:
            // A real application would update presence, audit logs, etc.
            return [200, ['ok' => true]];
    }
}

// ---------------------------------------------------------------------------
// The request.

if (($_SERVER['REQUEST_METHOD'] ?? '') !== 'POST') {
    header('Allow: POST');
    respond(405, ['error' => 'POST only']);
    return;
}

$body = (string) file_get_contents('php://input'); // raw bytes: what was signed
$key = $_SERVER['HTTP_TETHER_IDEMPOTENCY_KEY'] ?? '';
$type = $_SERVER['HTTP_TETHER_EVENT'] ?? '';

// 1. The signature, before anything else.
$secret = (string) getenv('TETHER_WEBHOOK_SECRET');
$problem = tether_verify_signature($_SERVER['HTTP_TETHER_SIGNATURE'] ?? '', $body, $secret);
if ($problem !== null) {
    log_request(['key' => $key, 'type' => $type, 'signature' => 'invalid', 'problem' => $problem, 'status' => 401]);
    respond(401, ['error' => 'invalid signature']);
    return;
}

$event = json_decode($body, true);
if (!is_array($event) || $key === '' || ($event['id'] ?? null) !== $key) {
    log_request(['key' => $key, 'type' => $type, 'signature' => 'valid', 'problem' => 'bad event', 'status' => 400]);
    respond(400, ['error' => 'the body is not an event, or its id is not the Tether-Idempotency-Key']);
    return;
}

// 2. Idempotency: the lock is held until the answer is decided, so a
// retry arriving meanwhile waits and then sees the recorded answer.
$seen = SeenKeys::open(state_dir() . '/seen-keys.json');
$duplicate = false;
$problem = null;
try {
    if (($previous = $seen->get($key)) !== null) {
        $duplicate = true;
        [$status, $response] = [$previous['status'], $previous['response']];
    } else {
        // 3. The work.
        try {
            [$status, $response] = handle_event($event);
        } catch (TetherApiError $e) {
            $problem = $e->getMessage();
            if ($e->isTemporary()) {
                // Not handled: 503 makes tether retry later. The key is
                // not recorded, so the retry does the work.
                [$status, $response] = [503, ['error' => 'tether API unavailable, try again']];
            } else {
                // A permanent API error (say, the room is empty): retrying
                // would not help. Done, with nothing to send back.
                [$status, $response] = [200, $event['type'] === 'message' ? ['messages' => []] : ['ok' => true]];
            }
        }
        if ($status < 300) {
            $seen->put($key, $status, $response);
        }
    }
} finally {
    $seen->close();
}

// 4. The log line, then the answer.
log_request([
    'key' => $key,
    'type' => $event['type'] ?? $type,
    'signature' => 'valid',
    'duplicate' => $duplicate,
    'status' => $status,
    'problem' => $problem,
    'event' => $event,
    'response' => $response,
]);
respond($status, $response);
