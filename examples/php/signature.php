<?php
// Verifying the Tether-Signature header of a webhook request.
//
// Tether signs every request it sends to your backend, Stripe-style:
//
//     Tether-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
//
// Recompute the HMAC over the bytes you received (php://input, before any
// json_decode), compare it in constant time (hash_equals), and refuse a
// timestamp too far from your clock: the timestamp is part of what is
// signed, so nobody can replay a captured request later by changing it.

declare(strict_types=1);

/** How far the signature's timestamp may be from our clock, in seconds. */
const TETHER_SIGNATURE_TOLERANCE = 300;

/**
 * Checks a Tether-Signature header against the raw request body.
 *
 * @param string   $header    the Tether-Signature header, e.g. "t=1700000000,v1=d178ab…"
 * @param string   $body      the raw request body, exactly as received
 * @param string   $secret    the secret the tether binary was started with (-webhook-secret)
 * @param int|null $now       the current Unix time (for tests); null means time()
 * @param int      $tolerance the largest accepted clock difference, in seconds
 * @return string|null null if the signature is valid, otherwise why it is not
 */
function tether_verify_signature(
    string $header,
    string $body,
    string $secret,
    ?int $now = null,
    int $tolerance = TETHER_SIGNATURE_TOLERANCE,
): ?string {
    if ($secret === '') {
        return 'no secret configured';
    }
    $timestamp = null;
    $signatures = [];
    // "t=1700000000,v1=abc…": the order of the parts does not matter, and
    // several v1 parts may come (when a secret is being rotated).
    foreach (explode(',', $header) as $part) {
        $pair = explode('=', trim($part), 2);
        if (count($pair) !== 2) {
            continue;
        }
        [$key, $value] = $pair;
        if ($key === 't' && $value !== '' && ctype_digit($value)) {
            $timestamp = $value; // kept as the exact string that was signed
        } elseif ($key === 'v1') {
            $signatures[] = $value;
        }
    }
    if ($timestamp === null || $signatures === []) {
        return 'missing or malformed Tether-Signature header';
    }
    if (abs(($now ?? time()) - (int) $timestamp) > $tolerance) {
        return 'timestamp too old or in the future (replayed request, or a wrong clock)';
    }
    $expected = hash_hmac('sha256', $timestamp . '.' . $body, $secret);
    foreach ($signatures as $signature) {
        // hash_equals takes the same time wherever the strings differ:
        // an attacker learns nothing from how fast we say no.
        if (hash_equals($expected, $signature)) {
            return null;
        }
    }
    return 'signature mismatch (wrong secret, or the body was changed)';
}
