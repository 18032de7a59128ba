<?php

declare(strict_types=1);

namespace Tether\Webhook;

/**
 * Where handled idempotency keys are remembered, with their answer. Use
 * your database in production: a unique key column written in the same
 * transaction as the work, so that "done" and "remembered" cannot disagree.
 */
interface SeenStore
{
    /** The answer recorded for $key, or null if it is new (or forgotten). */
    public function get(string $key): ?SeenAnswer;

    /** Records the answer given for $key, kept at least $ttlSeconds. */
    public function put(string $key, SeenAnswer $answer, int $ttlSeconds): void;
}
