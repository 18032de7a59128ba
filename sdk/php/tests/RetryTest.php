<?php

declare(strict_types=1);

namespace Tether\Tests;

use PHPUnit\Framework\TestCase;
use Tether\Client;
use Tether\Exception\ReplayBufferOverflowException;
use Tether\Exception\ServiceUnavailableException;
use Tether\Exception\ShuttingDownException;
use Tether\Exception\TimeoutException;
use Tether\Exception\TransportException;
use Tether\Http\CurlTransport;
use Tether\Http\StreamTransport;
use Tether\Http\Transport;
use Tether\Message;
use Tether\Tests\Support\PhpServer;
use Tether\Tests\Support\TetherServer;

/**
 * Retries, against a fake API under php -S (tests/fixtures/fake503.php):
 * the tether binary answers 503 only while it shuts down, which a test
 * cannot hold open on demand. The delays the client would sleep are
 * recorded instead of slept.
 */
final class RetryTest extends TestCase
{
    private static ?PhpServer $php = null;
    private static string $url = '';
    private static string $state = '';
    /** @var list<float> */
    private array $slept = [];

    public static function setUpBeforeClass(): void
    {
        self::$state = tempnam(sys_get_temp_dir(), 'tether-fake-');
        $port = TetherServer::freePort();
        self::$url = "http://127.0.0.1:$port";
        $env = getenv() + ['FAKE_STATE' => self::$state];
        $env['FAKE_STATE'] = self::$state;
        $env['PHP_CLI_SERVER_WORKERS'] = '4'; // slow answers (timeout tests) must not hold up the next requests
        self::$php = PhpServer::start(__DIR__ . '/fixtures/fake503.php', $port, $env);
    }

    public static function tearDownAfterClass(): void
    {
        self::$php?->stop();
        foreach (['', '.log', '.lock'] as $ext) {
            @unlink(self::$state . $ext);
        }
    }

    /** @param list<array{0:int,1:array,2:string,3?:float}> $answers */
    private function script(array $answers): void
    {
        file_put_contents(self::$state, json_encode(array_map(fn ($a) => $a + [3 => 0], $answers)));
        file_put_contents(self::$state . '.log', '');
    }

    /** @return list<string> the requests the fake got */
    private function requests(): array
    {
        return array_values(array_filter(explode("\n", (string) file_get_contents(self::$state . '.log'))));
    }

    private function client(Transport $transport, int $maxRetries = 2, float $timeout = 5.0, ?string $url = null): Client
    {
        return new Client($url ?? self::$url, 'key', timeout: $timeout, maxRetries: $maxRetries, transport: $transport,
            sleep: function (float $s): void {
                $this->slept[] = $s;
            });
    }

    private const DRAINING = [503, ['Retry-After' => '1'], '{"error":{"code":"shutting_down","message":"the server is shutting down; retry on the next one"}}'];
    private const BROADCAST_OK = [200, [], '{"room":"lobby","epoch":"e1","offset":7,"queued":2,"members":2,"stored":true}'];

    public static function transports(): array
    {
        return ['curl' => [new CurlTransport()], 'streams' => [new StreamTransport()]];
    }

    /** @dataProvider transports */
    public function testA503IsRetriedAfterRetryAfterThenSucceeds(Transport $transport): void
    {
        $this->script([self::DRAINING, self::DRAINING, self::BROADCAST_OK]);
        $r = $this->client($transport)->broadcast('lobby', Message::text('hi'));
        $this->assertSame(7, $r->offset);
        $this->assertSame([1.0, 1.0], $this->slept, "the server's Retry-After");
        $this->assertSame(array_fill(0, 3, 'POST /api/rooms/lobby/broadcast'), $this->requests());
    }

    /** @dataProvider transports */
    public function testRetriesRunOut(Transport $transport): void
    {
        $this->script([self::DRAINING, self::DRAINING, self::DRAINING, self::BROADCAST_OK]);
        try {
            $this->client($transport, maxRetries: 2)->broadcast('lobby', Message::text('hi'));
            $this->fail('no ShuttingDownException');
        } catch (ShuttingDownException $e) {
            $this->assertSame([503, 'shutting_down', 1.0], [$e->status, $e->errorCode, $e->retryAfter]);
        }
        $this->assertCount(3, $this->requests(), 'the first attempt and 2 retries');
    }

    public function testWithoutRetryAfterTheBackoffIsJittered(): void
    {
        $unavailable = [503, [], '{"error":{"code":"unavailable","message":"cannot queue the message"}}'];
        $this->script([$unavailable, $unavailable, self::BROADCAST_OK]);
        $this->client(new CurlTransport())->broadcast('lobby', Message::text('hi'));
        $this->assertCount(2, $this->slept);
        $this->assertThat($this->slept[0], $this->logicalAnd($this->greaterThanOrEqual(0.0), $this->lessThanOrEqual(0.1)));
        $this->assertThat($this->slept[1], $this->logicalAnd($this->greaterThanOrEqual(0.0), $this->lessThanOrEqual(0.2)));
    }

    public function testRetryAfterIsCapped(): void
    {
        $this->script([[503, ['Retry-After' => '3600'], '{"error":{"code":"shutting_down","message":"later"}}'], self::BROADCAST_OK]);
        $this->client(new CurlTransport())->broadcast('lobby', Message::text('hi'));
        $this->assertSame([10.0], $this->slept);
    }

    public function testAnOverflowIsNotRetried(): void
    {
        $this->script([[503, [], '{"error":{"code":"overflow","message":"the session\'s replay buffer overflowed"}}'], [200, [], '{"session":"s1","queued":1,"pending":1}']]);
        try {
            $this->client(new CurlTransport())->send('s1', Message::text('hi'));
            $this->fail('no ReplayBufferOverflowException');
        } catch (ReplayBufferOverflowException $e) {
            $this->assertInstanceOf(ServiceUnavailableException::class, $e);
        }
        $this->assertSame(['POST /api/sessions/s1/send'], $this->requests());
        $this->assertSame([], $this->slept);
    }

    /** @dataProvider transports */
    public function testAPostThatTimesOutIsNotSentAgain(Transport $transport): void
    {
        $this->script([self::BROADCAST_OK + [3 => 2.0], self::BROADCAST_OK]);
        try {
            $this->client($transport, timeout: 0.5)->broadcast('lobby', Message::text('hi'));
            $this->fail('no TimeoutException');
        } catch (TimeoutException $e) {
            $this->assertFalse($e->connectFailed);
        }
        $this->assertSame(['POST /api/rooms/lobby/broadcast'], $this->requests(), 'a retry could publish it twice');
    }

    public function testAGetThatTimesOutIsRetried(): void
    {
        $rooms = [200, [], '{"rooms":[{"name":"lobby","size":1,"members":["s1"]}]}'];
        $this->script([$rooms + [3 => 2.0], $rooms]);
        $r = $this->client(new CurlTransport(), timeout: 0.5)->rooms();
        $this->assertSame('lobby', $r[0]->name);
        $this->assertCount(2, $this->requests());
    }

    /** @dataProvider transports */
    public function testARefusedConnectionIsRetriedThenThrown(Transport $transport): void
    {
        $url = 'http://127.0.0.1:' . TetherServer::freePort();
        try {
            $this->client($transport, maxRetries: 2, url: $url)->broadcast('lobby', Message::text('hi'));
            $this->fail('no TransportException');
        } catch (TransportException $e) {
            $this->assertTrue($e->connectFailed, $e->getMessage());
        }
        $this->assertCount(2, $this->slept, 'never reached the server: safe to send again');
    }
}
