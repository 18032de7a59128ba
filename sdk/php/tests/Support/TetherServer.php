<?php

declare(strict_types=1);

namespace Tether\Tests\Support;

use PHPUnit\Framework\TestCase;

/**
 * The real tether binary, started for a test class: 127.0.0.1 on a free
 * port, an API key, HS256 client tokens, no demo. The binary is
 * $TETHER_BIN (scripts/test.sh builds it) or built here once with
 * `go build ./cmd/tether` from the repository's root.
 */
final class TetherServer
{
    public const API_KEY = 'php-sdk-test-api-key';
    public const JWT_SECRET = 'php-sdk-test-jwt-secret-0123456789';

    private static ?string $binary = null;

    /** @var resource */
    private $process;
    private readonly string $logFile;
    public readonly string $baseUrl;

    /** @param list<string> $args extra flags */
    private function __construct(public readonly int $port, array $args)
    {
        $this->baseUrl = "http://127.0.0.1:$port";
        $this->logFile = tempnam(sys_get_temp_dir(), 'tether-log-');
        $env = [];
        foreach (getenv() as $k => $v) {
            if (!str_starts_with($k, 'TETHER_')) {
                $env[$k] = $v;
            }
        }
        $env['TETHER_API_KEY'] = self::API_KEY;
        $env['TETHER_JWT_SECRET'] = self::JWT_SECRET;
        $cmd = array_merge([self::binary(), '-addr', "127.0.0.1:$port", '-demo=false', '-log-level', 'debug'], $args);
        $process = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $this->logFile, 'a'], 2 => ['file', $this->logFile, 'a']], $pipes, null, $env);
        if ($process === false) {
            throw new \RuntimeException('failed to start ' . implode(' ', $cmd));
        }
        $this->process = $process;
        $deadline = microtime(true) + 15;
        while (true) {
            $status = @file_get_contents($this->baseUrl . '/healthz');
            if ($status !== false) {
                return;
            }
            if (!proc_get_status($this->process)['running']) {
                throw new \RuntimeException("tether exited at start:\n" . $this->output());
            }
            if (microtime(true) > $deadline) {
                $this->stop();
                throw new \RuntimeException("tether did not answer /healthz within 15 s:\n" . $this->output());
            }
            usleep(20_000);
        }
    }

    /** @param list<string> $args extra flags */
    public static function start(array $args = []): self
    {
        return new self(self::freePort(), $args);
    }

    /** Skips the test (fails under TETHER_REQUIRE_ALL=1) when the binary cannot be had. */
    public static function require(TestCase $test): void
    {
        try {
            self::binary();
        } catch (\RuntimeException $e) {
            if (getenv('TETHER_REQUIRE_ALL') === '1') {
                TestCase::fail($e->getMessage() . ' (TETHER_REQUIRE_ALL=1 makes this a failure)');
            }
            TestCase::markTestSkipped('SKIP: ' . $e->getMessage());
        }
    }

    public static function binary(): string
    {
        if (self::$binary !== null) {
            return self::$binary;
        }
        $bin = (string) getenv('TETHER_BIN');
        if ($bin !== '') {
            if (!is_executable($bin)) {
                throw new \RuntimeException("TETHER_BIN=$bin is not an executable");
            }
            return self::$binary = $bin;
        }
        $root = dirname(__DIR__, 4);
        $bin = sys_get_temp_dir() . '/tether-php-sdk-test-' . getmypid();
        $out = [];
        exec('cd ' . escapeshellarg($root) . ' && go build -o ' . escapeshellarg($bin) . ' ./cmd/tether 2>&1', $out, $code);
        if ($code !== 0) {
            throw new \RuntimeException("cannot build ./cmd/tether (set TETHER_BIN or install Go):\n" . implode("\n", $out));
        }
        register_shutdown_function(static fn () => @unlink($bin));
        return self::$binary = $bin;
    }

    public static function freePort(): int
    {
        $s = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
        if ($s === false) {
            throw new \RuntimeException("failed to find a free port: $errstr");
        }
        $name = stream_socket_get_name($s, false);
        fclose($s);
        return (int) substr($name, strrpos($name, ':') + 1);
    }

    /** An HS256 client token for $user, joining $rooms. */
    public static function token(string $user, array $rooms = []): string
    {
        $b64 = static fn (string $s): string => rtrim(strtr(base64_encode($s), '+/', '-_'), '=');
        $claims = ['sub' => $user, 'exp' => time() + 3600];
        if ($rooms !== []) {
            $claims['rooms'] = $rooms;
        }
        $head = $b64('{"alg":"HS256","typ":"JWT"}') . '.' . $b64(json_encode($claims));
        return $head . '.' . $b64(hash_hmac('sha256', $head, self::JWT_SECRET, true));
    }

    /** A WebSocket client of this server, as $user in $rooms. */
    public function connect(string $user, array $rooms = []): WsClient
    {
        return WsClient::connect($this->port, self::token($user, $rooms));
    }

    public function output(): string
    {
        return (string) @file_get_contents($this->logFile);
    }

    public function stop(): void
    {
        if (!is_resource($this->process)) {
            return;
        }
        proc_terminate($this->process, 15);
        $deadline = microtime(true) + 10;
        while (proc_get_status($this->process)['running'] && microtime(true) < $deadline) {
            usleep(20_000);
        }
        if (proc_get_status($this->process)['running']) {
            proc_terminate($this->process, 9);
        }
        proc_close($this->process);
        @unlink($this->logFile);
    }
}
