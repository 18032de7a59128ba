<?php

declare(strict_types=1);

namespace Tether\Tests;

use Nyholm\Psr7\Factory\Psr17Factory;
use Nyholm\Psr7\ServerRequest;
use PHPUnit\Framework\TestCase;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Server\RequestHandlerInterface;
use Tether\Message;
use Tether\Tests\Support\PhpServer;
use Tether\Tests\Support\TetherServer;
use Tether\Webhook\Event\CloseEvent;
use Tether\Webhook\Event\DisconnectEvent;
use Tether\Webhook\Event\MessageEvent;
use Tether\Webhook\Event\OpenEvent;
use Tether\Webhook\Event\PresenceEvent;
use Tether\Webhook\InMemorySeenStore;
use Tether\Webhook\WebhookMiddleware;
use Tether\Webhook\WebhookVerifier;

/** The PSR-15 middleware, alone (Nyholm's PSR-7) and behind the real tether binary. */
final class MiddlewareTest extends TestCase
{
    private const SECRET = 'whsec_middleware-test';

    protected function setUp(): void
    {
        if (!class_exists(Psr17Factory::class)) {
            $msg = 'PSR-7 implementation missing (apt-get install -y php-nyholm-psr7)';
            if (getenv('TETHER_REQUIRE_ALL') === '1') {
                $this->fail($msg . ' (TETHER_REQUIRE_ALL=1 makes this a failure)');
            }
            $this->markTestSkipped('SKIP: ' . $msg);
        }
    }

    /** A handler that counts its calls and answers $status. */
    private static function handler(int $status = 200): RequestHandlerInterface
    {
        return new class ($status) implements RequestHandlerInterface {
            public int $calls = 0;
            public mixed $event = null;

            public function __construct(private int $status)
            {
            }

            public function handle(ServerRequestInterface $request): ResponseInterface
            {
                $this->calls++;
                $this->event = $request->getAttribute(WebhookMiddleware::EVENT);
                $f = new Psr17Factory();
                return $f->createResponse($this->status)->withHeader('Content-Type', 'application/json')
                    ->withBody($f->createStream('{"messages":[{"type":"text","text":"call ' . $this->calls . '"}]}'));
            }
        };
    }

    private static function request(string $body, ?string $signature, string $method = 'POST'): ServerRequest
    {
        $id = json_decode($body, true)['id'] ?? '';
        $headers = ['Content-Type' => 'application/json', 'Tether-Idempotency-Key' => $id, 'Tether-Event' => 'message'];
        if ($signature !== null) {
            $headers['Tether-Signature'] = $signature;
        }
        return new ServerRequest($method, '/webhook', $headers, $body);
    }

    public function testAlone(): void
    {
        $f = new Psr17Factory();
        $verifier = new WebhookVerifier(self::SECRET, new InMemorySeenStore());
        $mw = new WebhookMiddleware($verifier, $f, $f);
        $body = json_encode(['type' => 'message', 'id' => 's1:message:1', 'time' => gmdate('c'), 'session' => 's1', 'message' => ['seq' => 1, 'type' => 'text', 'text' => 'hi']]);
        $h = self::handler();

        $this->assertSame(405, $mw->process(self::request($body, $verifier->sign($body), 'GET'), $h)->getStatusCode());
        $this->assertSame(401, $mw->process(self::request($body, null), $h)->getStatusCode());
        $this->assertSame(401, $mw->process(self::request($body, $verifier->sign($body, time() - 301)), $h)->getStatusCode());
        $this->assertSame(401, $mw->process(self::request($body, (new WebhookVerifier('other'))->sign($body)), $h)->getStatusCode());
        $this->assertSame(0, $h->calls, 'refused requests never reach the handler');

        $first = $mw->process(self::request($body, $verifier->sign($body)), $h);
        $this->assertSame([200, '{"messages":[{"type":"text","text":"call 1"}]}'], [$first->getStatusCode(), (string) $first->getBody()]);
        $this->assertInstanceOf(MessageEvent::class, $h->event);
        $this->assertSame('hi', $h->event->text());
        $again = $mw->process(self::request($body, $verifier->sign($body)), $h);
        $this->assertSame([200, '{"messages":[{"type":"text","text":"call 1"}]}', 'true'], [$again->getStatusCode(), (string) $again->getBody(), $again->getHeaderLine('Tether-Replayed')]);
        $this->assertSame(1, $h->calls, 'a replayed key is not handled again');

        // A failed answer is not remembered: tether's retry does the work.
        $body2 = str_replace('message:1', 'message:2', $body);
        $failing = self::handler(503);
        $this->assertSame(503, $mw->process(self::request($body2, $verifier->sign($body2)), $failing)->getStatusCode());
        $this->assertSame(200, $mw->process(self::request($body2, $verifier->sign($body2)), $h)->getStatusCode());
        $this->assertSame(2, $h->calls);
    }

    public function testBehindTheBinary(): void
    {
        TetherServer::require($this);
        $dir = sys_get_temp_dir() . '/tether-psr15-' . bin2hex(random_bytes(4));
        mkdir($dir);
        $appPort = TetherServer::freePort();
        $env = getenv();
        $env['APP_STATE_DIR'] = $dir;
        $env['APP_WEBHOOK_SECRET'] = self::SECRET;
        $env['PHP_CLI_SERVER_WORKERS'] = '2';
        $app = PhpServer::start(__DIR__ . '/fixtures/psr15app.php', $appPort, $env, "$dir/app.log");
        $server = null;
        try {
            $server = TetherServer::start(['-webhook-url', "http://127.0.0.1:$appPort/webhook", '-webhook-secret', self::SECRET,
                '-rooms', '[{"pattern":"pres-*","presence":true}]', '-webhook-timeout', '2s']);
            $room = 'pres-' . bin2hex(random_bytes(3));
            $c = $server->connect('hana', [$room]);
            $c->sendText(1, '/echo back to me');
            $this->assertSame('back to me', $c->nextText(), 'the reply of the PSR-15 handler');
            $c->close(); // the connection is lost: disconnect
            $this->waitFor($dir, fn (array $events) => in_array(DisconnectEvent::class, array_column($events, 'class'), true));
            $tether = new \Tether\Client($server->baseUrl, TetherServer::API_KEY);
            $tether->kick($c->sessionId, 'bye');
            $events = $this->waitFor($dir, fn (array $events) => in_array(CloseEvent::class, array_column($events, 'class'), true)
                && count(array_filter($events, fn ($e) => $e['class'] === PresenceEvent::class)) === 2);
            $byClass = [];
            foreach ($events as $e) {
                $this->assertSame($c->sessionId, $e['session']);
                $this->assertSame('hana', $e['user']);
                $byClass[$e['class']][] = $e;
            }
            $this->assertSame([OpenEvent::class, PresenceEvent::class, MessageEvent::class, DisconnectEvent::class, CloseEvent::class],
                array_keys($byClass), 'each event once, in order (presence join and leave)');
            $this->assertSame(1, $byClass[MessageEvent::class][0]['seq']);
            $this->assertSame([[$room, 'join'], [$room, 'leave']], array_map(fn ($e) => [$e['room'], $e['presence']], $byClass[PresenceEvent::class]));
            $this->assertSame('network-lost', $byClass[DisconnectEvent::class][0]['cause']);
            $this->assertSame(['kicked', 'bye'], [$byClass[CloseEvent::class][0]['cause'], $byClass[CloseEvent::class][0]['reason']]);
            $this->assertNull($byClass[OpenEvent::class][0]['reason']);
        } finally {
            $server?->stop();
            $app->stop();
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    /** Waits until the app's event log satisfies $done; returns it. */
    private function waitFor(string $dir, \Closure $done): array
    {
        $deadline = microtime(true) + 20;
        while (true) {
            $lines = array_filter(explode("\n", (string) @file_get_contents("$dir/events.jsonl")));
            $events = array_map(fn ($l) => json_decode($l, true), $lines);
            if ($done($events)) {
                return $events;
            }
            if (microtime(true) > $deadline) {
                $this->fail("events so far:\n" . implode("\n", $lines) . "\napp:\n" . @file_get_contents("$dir/app.log"));
            }
            usleep(20_000);
        }
    }
}
