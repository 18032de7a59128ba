<?php

declare(strict_types=1);

namespace Tether\Webhook;

/**
 * A SeenStore that can hold a key while its event is handled, so that a
 * repeat arriving meanwhile (tether retries an event whose answer is late)
 * waits, then sees the recorded answer instead of doing the work twice.
 * The middleware uses it when the store implements it.
 */
interface LockingSeenStore extends SeenStore
{
    /** Takes $key's lock, waiting for it; call the returned closure to release it. */
    public function lock(string $key): \Closure;
}
