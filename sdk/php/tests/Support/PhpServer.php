<?php

declare(strict_types=1);

namespace Tether\Tests\Support;

/**
 * A `php -S` server for a test. With PHP_CLI_SERVER_WORKERS the server
 * forks workers; stop signals them and the master, and fails if any of
 * them is still running, so that no test run leaves servers behind. They
 * stay in the test's process group: whatever stops the test run stops them.
 */
final class PhpServer
{
    /** @var resource */
    private $process;
    private int $pid;

    /**
     * Starts `php -S 127.0.0.1:$port $script` with $env and waits until
     * it listens.
     *
     * @param array<string, string> $env
     */
    public static function start(string $script, int $port, array $env, string $log = '/dev/null'): self
    {
        $s = new self();
        $process = proc_open([PHP_BINARY, '-S', "127.0.0.1:$port", $script],
            [0 => ['file', '/dev/null', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']], $pipes, null, $env);
        if (!is_resource($process)) {
            throw new \RuntimeException('cannot start php -S');
        }
        $s->process = $process;
        $s->pid = proc_get_status($process)['pid'];
        $deadline = microtime(true) + 10;
        while (@fsockopen('127.0.0.1', $port) === false) {
            if (microtime(true) > $deadline) {
                $s->stop();
                throw new \RuntimeException('php -S did not start');
            }
            usleep(20_000);
        }
        return $s;
    }

    /** Stops the server and every worker it forked. */
    public function stop(): void
    {
        if (!is_resource($this->process)) {
            return;
        }
        // The workers first, found while the master is their parent.
        exec('pgrep -P ' . $this->pid, $out);
        $pids = array_merge(array_map('intval', $out), [$this->pid]);
        self::signal($pids, 'TERM');
        $deadline = microtime(true) + 5;
        while (self::alive($pids) !== [] && microtime(true) < $deadline) {
            usleep(20_000);
        }
        self::signal(self::alive($pids), 'KILL');
        proc_close($this->process);
        usleep(50_000);
        if (($left = self::alive($pids)) !== []) {
            throw new \RuntimeException('php -S left processes running: ' . implode(' ', $left));
        }
    }

    /** @param list<int> $pids */
    private static function signal(array $pids, string $sig): void
    {
        foreach ($pids as $pid) {
            exec('kill -s ' . $sig . ' ' . $pid . ' 2>/dev/null');
        }
    }

    /**
     * The processes of $pids still running (a zombie is not).
     *
     * @param list<int> $pids
     * @return list<int>
     */
    private static function alive(array $pids): array
    {
        return array_values(array_filter($pids, function (int $pid): bool {
            $stat = @file_get_contents("/proc/$pid/stat");
            return $stat !== false && !preg_match('/\) Z /', $stat);
        }));
    }
}
