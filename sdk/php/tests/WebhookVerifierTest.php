<?php

declare(strict_types=1);

namespace Tether\Tests;

use PHPUnit\Framework\TestCase;
use Tether\Webhook\Event\OpenEvent;
use Tether\Webhook\ExpiredTimestampException;
use Tether\Webhook\FileSeenStore;
use Tether\Webhook\InMemorySeenStore;
use Tether\Webhook\InvalidSignatureException;
use Tether\Webhook\MalformedEventException;
use Tether\Webhook\ReplayedEventException;
use Tether\Webhook\WebhookVerifier;

use function Tether\Webhook\remember_webhook;
use function Tether\Webhook\verify_webhook;

final class WebhookVerifierTest extends TestCase
{
    // The worked example of docs/API.md and examples/php/README.md.
    private const SECRET = 'whsec_example';
    private const BODY = '{"type":"open","id":"evt_1","time":"2023-11-14T22:13:20Z","session":"s_1"}';
    private const SIGNATURE = 't=1700000000,v1=d178abd1882e10c4327d755cec9028e547245b62e70d17c4624923f776be48b6';
    private const NOW = 1700000100;

    private static function headers(string $signature = self::SIGNATURE, string $key = 'evt_1'): array
    {
        return ['Tether-Signature' => $signature, 'Tether-Idempotency-Key' => $key, 'Tether-Event' => 'open', 'Content-Type' => 'application/json'];
    }

    private static function verifier(?int $now = self::NOW, $store = null): WebhookVerifier
    {
        return new WebhookVerifier(self::SECRET, $store ?? new InMemorySeenStore(), clock: fn () => $now);
    }

    public function testTheWorkedExample(): void
    {
        $event = self::verifier()->verify(self::BODY, self::headers());
        $this->assertInstanceOf(OpenEvent::class, $event);
        $this->assertSame(['evt_1', 's_1', '', null], [$event->id, $event->session, $event->user, $event->reason]);
        $this->assertSame(self::SIGNATURE, self::verifier(1700000000)->sign(self::BODY));
    }

    public function testHeaderForms(): void
    {
        $server = ['HTTP_TETHER_SIGNATURE' => self::SIGNATURE, 'HTTP_TETHER_IDEMPOTENCY_KEY' => 'evt_1', 'HTTP_TETHER_EVENT' => 'open'];
        $this->assertSame('evt_1', self::verifier()->verify(self::BODY, $server)->id, '$_SERVER');
        $psr7 = ['tether-signature' => [self::SIGNATURE], 'tether-idempotency-key' => ['evt_1']];
        $this->assertSame('evt_1', self::verifier()->verify(self::BODY, $psr7)->id, 'PSR-7 getHeaders()');
        $swapped = 'v1=d178abd1882e10c4327d755cec9028e547245b62e70d17c4624923f776be48b6,t=1700000000';
        $this->assertSame('evt_1', self::verifier()->verify(self::BODY, self::headers($swapped))->id, 'parts in another order');
        $rotated = 't=1700000000,v1=' . str_repeat('0', 64) . ',v1=d178abd1882e10c4327d755cec9028e547245b62e70d17c4624923f776be48b6';
        $this->assertSame('evt_1', self::verifier()->verify(self::BODY, self::headers($rotated))->id, 'several v1 (secret rotation)');
    }

    /** @return array<string, array{0:string,1:string,2:int,3:class-string}> */
    public static function refusals(): array
    {
        $changed = str_replace('s_1', 's_2', self::BODY);
        return [
            'wrong signature' => [self::BODY, 't=1700000000,v1=' . str_repeat('ab', 32), self::NOW, InvalidSignatureException::class],
            'body changed' => [$changed, self::SIGNATURE, self::NOW, InvalidSignatureException::class],
            'timestamp changed' => [self::BODY, str_replace('1700000000', '1700000001', self::SIGNATURE), self::NOW, InvalidSignatureException::class],
            'uppercase hex' => [self::BODY, strtoupper(self::SIGNATURE), self::NOW, InvalidSignatureException::class],
            'no v1' => [self::BODY, 't=1700000000', self::NOW, InvalidSignatureException::class],
            'no header' => [self::BODY, '', self::NOW, InvalidSignatureException::class],
            'expired' => [self::BODY, self::SIGNATURE, 1700000301, ExpiredTimestampException::class],
            'from the future' => [self::BODY, self::SIGNATURE, 1699999699, ExpiredTimestampException::class],
        ];
    }

    /** @dataProvider refusals */
    public function testRefusals(string $body, string $signature, int $now, string $class): void
    {
        try {
            self::verifier($now)->verify($body, self::headers($signature));
            $this->fail('accepted');
        } catch (InvalidSignatureException $e) {
            $this->assertSame($class, get_class($e), $e->getMessage());
            $this->assertSame(401, $e->status);
        }
    }

    public function testTheToleranceIsInclusive(): void
    {
        $this->assertSame('evt_1', self::verifier(1700000300)->verify(self::BODY, self::headers())->id);
        $this->assertSame('evt_1', (new WebhookVerifier(self::SECRET, clock: fn () => 1700000500, tolerance: 600))->verify(self::BODY, self::headers())->id);
    }

    public function testSignedButMalformed(): void
    {
        $v = self::verifier();
        foreach ([
            'key is not the id' => [self::BODY, self::headers(key: 'evt_2')],
            'not JSON' => ['nope', self::headers($v->sign('nope', 1700000000))],
            'no id' => ['{"type":"open","time":"2023-11-14T22:13:20Z","session":"s"}', null],
            'bad time' => ['{"type":"open","id":"evt_1","time":"yesterday-ish","session":"s"}', null],
        ] as $name => [$body, $headers]) {
            $headers ??= self::headers($v->sign($body, 1700000000));
            try {
                $v->verify($body, $headers);
                $this->fail("$name: accepted");
            } catch (MalformedEventException $e) {
                $this->assertSame(400, $e->status, $name);
            }
        }
    }

    public function testAReplayedKeyGetsTheFirstAnswer(): void
    {
        $v = self::verifier();
        $event = $v->verify(self::BODY, self::headers());
        $v->remember($event, 503, '{"error":"later"}');
        $event = $v->verify(self::BODY, self::headers()); // a 5xx is not remembered: the retry does the work
        $v->remember($event, 200, '{"ok":true}');
        try {
            $v->verify(self::BODY, self::headers());
            $this->fail('a replayed key was accepted');
        } catch (ReplayedEventException $e) {
            $this->assertSame([200, '{"ok":true}', 'evt_1'], [$e->answer->status, $e->answer->body, $e->event->id]);
        }
    }

    public function testTheSeenStoreForgets(): void
    {
        $now = 1000;
        $store = new InMemorySeenStore(capacity: 2, clock: function () use (&$now) {
            return $now;
        });
        $answer = new \Tether\Webhook\SeenAnswer(200, '{}');
        $store->put('a', $answer, 10);
        $now = 1011;
        $this->assertNull($store->get('a'), 'expired');
        $store->put('b', $answer, 10);
        $store->put('c', $answer, 10);
        $store->put('d', $answer, 10);
        $this->assertNull($store->get('b'), 'over capacity: the oldest goes');
        $this->assertNotNull($store->get('c'));
        $this->assertNotNull($store->get('d'));
    }

    public function testFileSeenStore(): void
    {
        $dir = sys_get_temp_dir() . '/tether-seen-' . bin2hex(random_bytes(4));
        $store = new FileSeenStore($dir);
        $v = self::verifier(self::NOW, $store);
        $event = $v->verify(self::BODY, self::headers());
        $unlock = $store->lock($event->id);
        $v->remember($event, 200, '{"messages":[]}');
        $unlock();
        // Another process (a new store on the same directory) sees it.
        try {
            self::verifier(self::NOW, new FileSeenStore($dir))->verify(self::BODY, self::headers());
            $this->fail('a replayed key was accepted');
        } catch (ReplayedEventException $e) {
            $this->assertSame('{"messages":[]}', $e->answer->body);
        }
        $store->put('old', new \Tether\Webhook\SeenAnswer(200, ''), -1);
        $this->assertNull($store->get('old'));
        $store->sweep();
        $this->assertCount(1, glob("$dir/*.json"), 'the expired record is swept, the live one kept');
        array_map('unlink', glob("$dir/*"));
        rmdir($dir);
    }

    public function testThePlainFunctions(): void
    {
        $store = new InMemorySeenStore();
        $event = verify_webhook(self::SECRET, self::BODY, self::headers(), $store, now: self::NOW);
        $this->assertSame('evt_1', $event->id);
        remember_webhook($event, 200, '{"ok":true}', $store);
        try {
            verify_webhook(self::SECRET, self::BODY, self::headers(), $store, now: self::NOW);
            $this->fail('a replayed key was accepted');
        } catch (ReplayedEventException $e) {
            $this->assertSame('{"ok":true}', $e->answer->body);
        }
        $this->expectException(ExpiredTimestampException::class);
        verify_webhook(self::SECRET, self::BODY, self::headers(), new InMemorySeenStore(), now: self::NOW + 301);
    }
}
