<?php

declare(strict_types=1);

namespace Tether\Webhook;

use Tether\Webhook\Event\WebhookEvent;

/**
 * Checks tether's webhook requests: the Tether-Signature (HMAC-SHA256 of
 * "<t>.<raw body>" with -webhook-secret, constant-time compare), the
 * timestamp's distance from our clock, that the body is an event whose id
 * is the Tether-Idempotency-Key, and that the key was not handled already
 * (the SeenStore). After handling an event, remember() its answer: a
 * repeat then gets ReplayedEventException carrying that answer.
 *
 *     $verifier = new WebhookVerifier(getenv('TETHER_WEBHOOK_SECRET'), new FileSeenStore('/var/lib/app/tether-keys'));
 *     try {
 *         $event = $verifier->verify($rawBody, $headers);
 *     } catch (ReplayedEventException $e) {
 *         // answer $e->answer->status, $e->answer->body: the first answer
 *     } catch (VerificationException $e) {
 *         // answer $e->status (401 or 400)
 *     }
 *     … handle $event …
 *     $verifier->remember($event, 200, $answerBody);
 */
final class WebhookVerifier
{
    /** Tether's own bound: a timestamp more than 5 minutes away is refused. */
    public const DEFAULT_TOLERANCE = 300;
    /** How long a handled key is remembered by default: a day (tether gives up on an event after an hour). */
    public const DEFAULT_SEEN_TTL = 86400;

    public readonly SeenStore $seen;

    /**
     * @param string         $secret    the server's -webhook-secret; may not be empty
     * @param SeenStore|null $seen      null: an InMemorySeenStore (fine for a long-running server; not php-fpm)
     * @param int            $tolerance seconds the timestamp may be from our clock; 0 or less means 300
     * @param int            $seenTtl   seconds a handled key is remembered; 0 or less means a day
     * @param \Closure|null  $clock     fn(): int, the Unix time; null means time()
     */
    public function __construct(
        #[\SensitiveParameter] private readonly string $secret,
        ?SeenStore $seen = null,
        private readonly int $tolerance = self::DEFAULT_TOLERANCE,
        private readonly int $seenTtl = self::DEFAULT_SEEN_TTL,
        private readonly ?\Closure $clock = null,
    ) {
        if ($secret === '') {
            throw new \InvalidArgumentException('the webhook secret may not be empty');
        }
        $this->seen = $seen ?? new InMemorySeenStore();
    }

    /**
     * Verifies a request and checks its key was not handled already.
     *
     * @param string                       $body    the raw body, exactly as received
     * @param array<string,string|array>   $headers the request's headers, names in any case (getallheaders(),
     *                                              a PSR-7 getHeaders(), Laravel's $request->headers->all()…)
     * @throws ReplayedEventException   the key was handled: answer $e->answer
     * @throws VerificationException    answer $e->status (401 bad signature or timestamp, 400 not an event)
     */
    public function verify(string $body, array $headers): WebhookEvent
    {
        $event = $this->verifySignature($body, $headers);
        $this->checkReplay($event);
        return $event;
    }

    /**
     * The checks of verify() but the replay check: the signature, the
     * timestamp and the event.
     *
     * @throws VerificationException
     */
    public function verifySignature(string $body, array $headers): WebhookEvent
    {
        $headers = self::normalize($headers);
        $this->checkSignature($headers['tether-signature'] ?? '', $body);
        try {
            $event = WebhookEvent::fromJson($body);
        } catch (\InvalidArgumentException $e) {
            throw new MalformedEventException($e->getMessage(), 400, $e);
        }
        $key = $headers['tether-idempotency-key'] ?? '';
        if ($key !== $event->id) {
            throw new MalformedEventException('the event\'s id is not the Tether-Idempotency-Key header', 400);
        }
        $type = $headers['tether-event'] ?? $event->type;
        if ($type !== $event->type) {
            throw new MalformedEventException('the event\'s type is not the Tether-Event header', 400);
        }
        return $event;
    }

    /**
     * Checks a Tether-Signature header against the raw body.
     *
     * @throws InvalidSignatureException|ExpiredTimestampException
     */
    public function checkSignature(string $header, string $body): void
    {
        $timestamp = null;
        $signatures = [];
        // "t=1700000000,v1=abc…": the parts in any order; several v1 may come.
        foreach (explode(',', $header) as $part) {
            $pair = explode('=', trim($part), 2);
            if (count($pair) !== 2) {
                continue;
            }
            if ($pair[0] === 't' && $pair[1] !== '' && ctype_digit($pair[1])) {
                $timestamp = $pair[1]; // the exact string that was signed
            } elseif ($pair[0] === 'v1') {
                $signatures[] = $pair[1];
            }
        }
        if ($timestamp === null || $signatures === []) {
            throw new InvalidSignatureException('missing or malformed Tether-Signature header');
        }
        $tolerance = $this->tolerance > 0 ? $this->tolerance : self::DEFAULT_TOLERANCE;
        if (abs($this->now() - (int) $timestamp) > $tolerance) {
            throw new ExpiredTimestampException("the signature's timestamp is more than {$tolerance}s from our clock (a replayed request, or a wrong clock)");
        }
        $expected = hash_hmac('sha256', $timestamp . '.' . $body, $this->secret);
        foreach ($signatures as $signature) {
            if (hash_equals($expected, $signature)) {
                return;
            }
        }
        throw new InvalidSignatureException('signature mismatch (wrong secret, or the body was changed)');
    }

    /**
     * @throws ReplayedEventException when the event's key was handled already
     */
    public function checkReplay(WebhookEvent $event): void
    {
        $answer = $this->seen->get($event->id);
        if ($answer !== null) {
            throw new ReplayedEventException($event, $answer);
        }
    }

    /**
     * Records the answer given to a handled event, for its repeats. Only a
     * 2xx answer is recorded: tether retries an event answered 408, 429 or
     * 5xx, and the retry must do the work.
     */
    public function remember(WebhookEvent $event, int $status, string $body, string $contentType = 'application/json'): void
    {
        if ($status < 200 || $status >= 300) {
            return;
        }
        $ttl = $this->seenTtl > 0 ? $this->seenTtl : self::DEFAULT_SEEN_TTL;
        $this->seen->put($event->id, new SeenAnswer($status, $body, $contentType), $ttl);
    }

    /**
     * A Tether-Signature header for $body, as tether would send it (to test
     * your webhook endpoint).
     */
    public function sign(string $body, ?int $timestamp = null): string
    {
        $t = (string) ($timestamp ?? $this->now());
        return 't=' . $t . ',v1=' . hash_hmac('sha256', $t . '.' . $body, $this->secret);
    }

    private function now(): int
    {
        return $this->clock !== null ? ($this->clock)() : time();
    }

    /**
     * Header names in lower case, first values; $_SERVER's HTTP_TETHER_SIGNATURE form is understood too.
     *
     * @return array<string,string>
     */
    private static function normalize(array $headers): array
    {
        $out = [];
        foreach ($headers as $name => $value) {
            $name = strtolower((string) $name);
            if (str_starts_with($name, 'http_')) {
                $name = str_replace('_', '-', substr($name, 5));
            }
            if (is_array($value)) {
                $value = $value[0] ?? '';
            }
            $out[$name] ??= (string) $value;
        }
        return $out;
    }
}
