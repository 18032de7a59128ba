<?php

declare(strict_types=1);

namespace Tether\Webhook;

/**
 * Keys in the process's memory: right for a long-running server (Swoole,
 * RoadRunner, ReactPHP), where one process handles many requests. Under
 * php-fpm or php -S memory does not outlive a request: use FileSeenStore
 * or your database there.
 */
final class InMemorySeenStore implements SeenStore
{
    /** @var array<string, array{0:int, 1:SeenAnswer}> key → [expires at, answer], oldest first */
    private array $keys = [];

    /**
     * @param int           $capacity keys kept at most (the oldest are forgotten first); 0 or less means 100,000
     * @param \Closure|null $clock    fn(): int, the Unix time; null means time()
     */
    public function __construct(private readonly int $capacity = 100_000, private readonly ?\Closure $clock = null)
    {
    }

    public function get(string $key): ?SeenAnswer
    {
        $entry = $this->keys[$key] ?? null;
        if ($entry === null) {
            return null;
        }
        if ($entry[0] < $this->now()) {
            unset($this->keys[$key]);
            return null;
        }
        return $entry[1];
    }

    public function put(string $key, SeenAnswer $answer, int $ttlSeconds): void
    {
        unset($this->keys[$key]);
        $this->keys[$key] = [$this->now() + $ttlSeconds, $answer];
        $capacity = $this->capacity > 0 ? $this->capacity : 100_000;
        while (count($this->keys) > $capacity) {
            unset($this->keys[array_key_first($this->keys)]);
        }
    }

    private function now(): int
    {
        return $this->clock !== null ? ($this->clock)() : time();
    }
}
