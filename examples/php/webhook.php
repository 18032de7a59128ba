<?php
// The webhook endpoint: tether POSTs every session event here.
//
// It uses the Tether PHP SDK (sdk/php), loaded with its own autoload.php
// (no Composer needed; with Composer: require 'vendor/autoload.php'):
//   1. Tether\Webhook\WebhookVerifier checks the Tether-Signature header
//      (401 if it is wrong) and that each Tether-Idempotency-Key is
//      handled once (a repeat gets the first answer), with a FileSeenStore
//      (php -S and php-fpm keep nothing in memory between requests);
//   2. a tiny chat bot answers "message" events:
//        "/echo hello"  → replies "hello" to the sender only (the reply body)
//        "/join room"   → adds the sender to a room (Tether\Client::join)
//        anything else  → broadcast to the room "lobby" (Tether\Client::broadcast)
//   3. every request is logged as one JSON line (so you, and the tests, can see what came in).
//
// The answer tells tether what to do:
//   2xx          done; for "message" events the body may list messages to send back
//   503 (5xx)    try again later: tether retries with backoff, same key, same body
//   401/400 (4xx) never retry this event
//
// Configuration, from the environment:
//   TETHER_WEBHOOK_SECRET       the binary's -webhook-secret (required)
//   TETHER_API_URL              tether's base URL, e.g. http://127.0.0.1:8080
//   TETHER_API_KEY              the binary's -api-key
//   TETHER_EXAMPLE_STATE_DIR    where the seen keys and the event log go;
//                               default: sys_get_temp_dir()/tether-php-example
//   TETHER_EXAMPLE_ROOM         the chat room; default "lobby"

declare(strict_types=1);

require_once __DIR__ . '/../../sdk/php/autoload.php';

use Tether\Client;
use Tether\Exception\ApiException;
use Tether\Exception\TransportException;
use Tether\Message;
use Tether\Webhook\Event\MessageEvent;
use Tether\Webhook\Event\ReadmitEvent;
use Tether\Webhook\Event\WebhookEvent;
use Tether\Webhook\FileSeenStore;
use Tether\Webhook\ReplayedEventException;
use Tether\Webhook\Reply;
use Tether\Webhook\VerificationException;
use Tether\Webhook\WebhookVerifier;

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

/** Sends an answer. */
function respond(int $status, string $json): void
{
    http_response_code($status);
    header('Content-Type: application/json');
    echo $json;
}

/** The tether API client: short timeout (we answer a webhook meanwhile), one retry. */
function tether(): Client
{
    return new Client((string) getenv('TETHER_API_URL') ?: 'http://127.0.0.1:8080', (string) getenv('TETHER_API_KEY'), timeout: 2.0, maxRetries: 1);
}

/**
 * Handles one verified, new event.
 *
 * @return array the JSON body to answer with 200
 * @throws ApiException|TransportException when the tether API call fails
 */
function handle_event(WebhookEvent $event): array
{
    $room = (string) (getenv('TETHER_EXAMPLE_ROOM') ?: 'lobby');
    if ($event instanceof MessageEvent) {
        $text = $event->text();
        if ($text === null) {
            return Reply::messages(); // binary: this bot ignores it
        }
        // "/echo hello": answer the sender directly. The reply body is
        // sent back to that session only, in order after the message.
        if (str_starts_with($text, '/echo ')) {
            return Reply::messages(Message::text(substr($text, 6)));
        }
        // "/join support": add the session to a room through the API.
        if (str_starts_with($text, '/join ')) {
            $target = trim(substr($text, 6));
            tether()->join($target, $event->session);
            return Reply::messages(Message::text("joined $target"));
        }
        // Anything else: broadcast it to everybody in the room (the
        // sender included), through the tether HTTP API.
        tether()->broadcast($room, Message::text($text));
        return Reply::messages();
    }
    if ($event instanceof ReadmitEvent) {
        // A client that lost its session asks to get back into a room it
        // had joined with "/join" (rooms of its token come back by
        // themselves). This bot lets it back into any room; a real
        // application checks the user's right to $event->room here.
        return Reply::readmit(true);
    }
    // OpenEvent, DisconnectEvent, ResumeEvent, CloseEvent, RoomRecoveryEvent,
    // PresenceEvent: a real application would update presence, audit logs, etc.
    return ['ok' => true];
}

// ---------------------------------------------------------------------------
// The request.

if (($_SERVER['REQUEST_METHOD'] ?? '') !== 'POST') {
    header('Allow: POST');
    respond(405, '{"error":"POST only"}');
    return;
}

$body = (string) file_get_contents('php://input'); // raw bytes: what was signed
$headers = getallheaders();
$key = $_SERVER['HTTP_TETHER_IDEMPOTENCY_KEY'] ?? '';
$type = $_SERVER['HTTP_TETHER_EVENT'] ?? '';

$secret = (string) getenv('TETHER_WEBHOOK_SECRET');
if ($secret === '') {
    respond(500, '{"error":"TETHER_WEBHOOK_SECRET is not set"}');
    return;
}
$seen = new FileSeenStore(state_dir() . '/seen-keys');
$verifier = new WebhookVerifier($secret, $seen);

// 1. The signature, before anything else.
try {
    $event = $verifier->verifySignature($body, $headers);
} catch (VerificationException $e) {
    $signature = $e->status === 401 ? 'invalid' : 'valid';
    log_request(['key' => $key, 'type' => $type, 'signature' => $signature, 'problem' => $e->getMessage(), 'status' => $e->status]);
    respond($e->status, json_encode(['error' => $e->getMessage()]));
    return;
}

// 2. Idempotency: the key is locked until the answer is recorded, so a
// retry arriving meanwhile waits and then gets the recorded answer.
$unlock = $seen->lock($event->id);
$duplicate = false;
$problem = null;
try {
    try {
        $verifier->checkReplay($event);
        // 3. The work.
        try {
            [$status, $response] = [200, json_encode(handle_event($event), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)];
        } catch (ApiException|TransportException $e) {
            $problem = $e->getMessage();
            if ($e instanceof TransportException || $e->status >= 500) {
                // Not handled: 503 makes tether retry later. The key is
                // not recorded, so the retry does the work.
                [$status, $response] = [503, '{"error":"tether API unavailable, try again"}'];
            } else {
                // A permanent API error (say, the room is empty): retrying
                // would not help. Done, with nothing to send back.
                [$status, $response] = [200, json_encode($event instanceof MessageEvent ? Reply::messages() : ['ok' => true])];
            }
        }
        $verifier->remember($event, $status, $response); // 2xx only
    } catch (ReplayedEventException $e) {
        $duplicate = true;
        [$status, $response] = [$e->answer->status, $e->answer->body];
    }
} finally {
    $unlock();
}

// 4. The log line, then the answer.
log_request([
    'key' => $event->id,
    'type' => $event->type,
    'signature' => 'valid',
    'duplicate' => $duplicate,
    'status' => $status,
    'problem' => $problem,
    'event' => $event->raw,
    'response' => json_decode($response, true),
]);
respond($status, $response);
