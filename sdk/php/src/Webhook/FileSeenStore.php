<?php

declare(strict_types=1);

namespace Tether\Webhook;

/**
 * Keys in files of one directory (one file per key, named by its SHA-256),
 * locked with flock: works across the processes of php-fpm or php -S on one
 * machine. Expired files are removed now and then by put().
 */
final class FileSeenStore implements LockingSeenStore
{
    private readonly string $dir;

    /** @param string $dir created (0700) if missing */
    public function __construct(string $dir)
    {
        if (!is_dir($dir) && !@mkdir($dir, 0700, true) && !is_dir($dir)) {
            throw new \RuntimeException("failed to create the seen-keys directory $dir");
        }
        $this->dir = rtrim($dir, '/');
    }

    public function get(string $key): ?SeenAnswer
    {
        $json = @file_get_contents($this->path($key, 'json'));
        if ($json === false) {
            return null;
        }
        $a = json_decode($json, true);
        if (!is_array($a) || ($a['expires'] ?? 0) < time()) {
            return null;
        }
        return SeenAnswer::fromArray($a);
    }

    public function put(string $key, SeenAnswer $answer, int $ttlSeconds): void
    {
        $path = $this->path($key, 'json');
        $tmp = $path . '.' . bin2hex(random_bytes(4)) . '.tmp';
        $json = json_encode(['expires' => time() + $ttlSeconds] + $answer->toArray(), JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES);
        if (file_put_contents($tmp, $json) === false || !rename($tmp, $path)) {
            @unlink($tmp);
            throw new \RuntimeException("failed to record idempotency key in $path");
        }
        if (random_int(1, 100) === 1) {
            $this->sweep();
        }
    }

    public function lock(string $key): \Closure
    {
        $path = $this->path($key, 'lock');
        $file = fopen($path, 'c');
        if ($file === false || !flock($file, LOCK_EX)) {
            throw new \RuntimeException("failed to lock $path");
        }
        // The lock file stays (removing it would let a waiter and a newcomer
        // hold "the" lock on two different files); sweep() removes old ones.
        return static function () use ($file): void {
            flock($file, LOCK_UN);
            fclose($file);
        };
    }

    /** Removes the records that expired, and lock files unused for a day. */
    public function sweep(): void
    {
        $now = time();
        foreach (glob($this->dir . '/*.lock') ?: [] as $path) {
            if (@filemtime($path) < $now - 86400) {
                @unlink($path);
            }
        }
        foreach (glob($this->dir . '/*.json') ?: [] as $path) {
            $a = json_decode((string) @file_get_contents($path), true);
            if (!is_array($a) || ($a['expires'] ?? 0) < $now) {
                @unlink($path);
            }
        }
    }

    private function path(string $key, string $ext): string
    {
        return $this->dir . '/' . hash('sha256', $key) . '.' . $ext;
    }
}
