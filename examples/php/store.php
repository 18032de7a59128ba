<?php
// Idempotency: remembering which events were already handled.
//
// Tether delivers every event at least once: when your answer is lost (a
// timeout, a crash after the work was done), it sends the same event
// again, with the same Tether-Idempotency-Key. Handle each key once and
// answer a repeat with the answer you gave the first time.
//
// This example keeps the keys in one JSON file, locked with flock for
// the whole handling of a request so two deliveries of one key cannot
// both do the work. It serializes requests: fine for an example and for
// small sites; use your database (a unique key column, in the same
// transaction as the work) in production.

declare(strict_types=1);

final class SeenKeys
{
    /** Keys older than this are forgotten: tether gives up on an event long before. */
    private const KEEP_SECONDS = 86400;

    /** @var resource */
    private $file;
    /** @var array<string, array{at:int, status:int, response:mixed}> */
    private array $keys;
    private bool $dirty = false;

    private function __construct($file, array $keys)
    {
        $this->file = $file;
        $this->keys = $keys;
    }

    /** Opens the store and takes its lock; call close() to write and release it. */
    public static function open(string $path): self
    {
        $file = fopen($path, 'c+');
        if ($file === false) {
            throw new RuntimeException("cannot open $path");
        }
        if (!flock($file, LOCK_EX)) {
            fclose($file);
            throw new RuntimeException("cannot lock $path");
        }
        $json = stream_get_contents($file);
        $keys = $json === '' || $json === false ? [] : json_decode($json, true);
        return new self($file, is_array($keys) ? $keys : []);
    }

    /** The answer recorded for $key, or null if the key is new. */
    public function get(string $key): ?array
    {
        return $this->keys[$key] ?? null;
    }

    /** Records the answer given for $key. */
    public function put(string $key, int $status, mixed $response): void
    {
        $this->keys[$key] = ['at' => time(), 'status' => $status, 'response' => $response];
        $this->dirty = true;
    }

    /** Writes the keys back (forgetting old ones) and releases the lock. */
    public function close(): void
    {
        if ($this->dirty) {
            $cutoff = time() - self::KEEP_SECONDS;
            $this->keys = array_filter($this->keys, fn(array $r) => $r['at'] >= $cutoff);
            ftruncate($this->file, 0);
            rewind($this->file);
            fwrite($this->file, json_encode($this->keys, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE));
            fflush($this->file);
        }
        flock($this->file, LOCK_UN);
        fclose($this->file);
    }
}
