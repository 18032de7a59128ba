<?php

// The webhook checks as plain functions, for scripts that want no object:
//
//     $event = Tether\Webhook\verify_webhook($secret, file_get_contents('php://input'), getallheaders());
//     … handle it …
//     Tether\Webhook\remember_webhook($event, 200, $answerBody);
//
// They use WebhookVerifier; without a $seen store, a process-wide
// InMemorySeenStore (it lasts as long as the PHP process: pass a
// FileSeenStore or your own store under php-fpm).

declare(strict_types=1);

namespace Tether\Webhook;

use Tether\Webhook\Event\WebhookEvent;

/** The store the functions use when given none: one per process. */
function default_seen_store(): SeenStore
{
    static $store = null;
    return $store ??= new InMemorySeenStore();
}

/**
 * Verifies a webhook request: signature, timestamp within $tolerance
 * seconds, the body an event whose id is the Tether-Idempotency-Key, and
 * a key not handled already.
 *
 * @param array<string,string|array> $headers names in any case (getallheaders(), $_SERVER, PSR-7 getHeaders())
 * @throws ReplayedEventException the key was handled: answer $e->answer (the first answer)
 * @throws VerificationException  answer $e->status: 401 (signature, timestamp) or 400 (not an event)
 */
function verify_webhook(
    #[\SensitiveParameter] string $secret,
    string $body,
    array $headers,
    ?SeenStore $seen = null,
    int $tolerance = WebhookVerifier::DEFAULT_TOLERANCE,
    ?int $now = null,
): WebhookEvent {
    $clock = $now === null ? null : static fn (): int => $now;
    return (new WebhookVerifier($secret, $seen ?? default_seen_store(), $tolerance, clock: $clock))->verify($body, $headers);
}

/** Records the 2xx answer given to $event, so that a repeat of it gets ReplayedEventException. */
function remember_webhook(WebhookEvent $event, int $status, string $body, ?SeenStore $seen = null, int $ttlSeconds = WebhookVerifier::DEFAULT_SEEN_TTL): void
{
    if ($status < 200 || $status >= 300) {
        return;
    }
    ($seen ?? default_seen_store())->put($event->id, new SeenAnswer($status, $body), $ttlSeconds);
}
