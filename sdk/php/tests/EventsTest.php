<?php

declare(strict_types=1);

namespace Tether\Tests;

use PHPUnit\Framework\TestCase;
use Tether\Message;
use Tether\Webhook\Event\CloseEvent;
use Tether\Webhook\Event\DisconnectEvent;
use Tether\Webhook\Event\MessageEvent;
use Tether\Webhook\Event\OpenEvent;
use Tether\Webhook\Event\PresenceEvent;
use Tether\Webhook\Event\ReadmitEvent;
use Tether\Webhook\Event\ResumeEvent;
use Tether\Webhook\Event\RoomRecoveryEvent;
use Tether\Webhook\Event\UnknownEvent;
use Tether\Webhook\Event\WebhookEvent;
use Tether\Webhook\Reply;

/** Every event of docs/API.md, as the server writes it (internal/webhook.Event). */
final class EventsTest extends TestCase
{
    private static function event(string $type, array $extra): WebhookEvent
    {
        return WebhookEvent::fromJson(json_encode(['type' => $type, 'id' => "s1:$type", 'time' => '2026-01-02T03:04:05.678Z',
            'session' => 's1', 'user' => 'alice', 'meta' => ['remote_addr' => '10.0.0.7:51234', 'previous_session' => 's0']] + $extra));
    }

    public function testOpen(): void
    {
        $e = self::event('open', ['reason' => 'server-restarted', 'counts' => ['lost_to_client' => -1, 'lost_from_client' => 2, 'carried' => 3, 'in_rooms' => 4]]);
        $this->assertInstanceOf(OpenEvent::class, $e);
        $this->assertSame(['server-restarted', null, 2, 3, 4, true], [$e->reason, $e->lostToClient, $e->lostFromClient, $e->carried, $e->inRooms, $e->replacesLostSession()]);
        $this->assertSame(['s1:open', 's1', 'alice', '10.0.0.7:51234', 's0'], [$e->id, $e->session, $e->user, $e->remoteAddr(), $e->previousSession()]);
        $this->assertSame('2026-01-02T03:04:05.678+00:00', $e->time->format('Y-m-d\TH:i:s.vP'));
        $fresh = WebhookEvent::fromJson('{"type":"open","id":"s2:open","time":"2026-01-02T03:04:05Z","session":"s2"}');
        $this->assertSame([null, null, null, '', false], [$fresh->reason, $fresh->lostToClient, $fresh->previousSession(), $fresh->user, $fresh->replacesLostSession()]);
    }

    public function testMessage(): void
    {
        $e = self::event('message', ['message' => ['seq' => 7, 'type' => 'text', 'text' => 'héllo']]);
        $this->assertInstanceOf(MessageEvent::class, $e);
        $this->assertSame([7, 'héllo'], [$e->seq, $e->text()]);
        $b = self::event('message', ['message' => ['seq' => 8, 'type' => 'binary', 'data' => base64_encode("\x00\xff")]]);
        $this->assertEquals([8, Message::binary("\x00\xff"), null], [$b->seq, $b->message, $b->text()]);
        $this->expectException(\InvalidArgumentException::class);
        self::event('message', ['message' => ['seq' => 9, 'type' => 'binary', 'data' => '!!not base64!!']]);
    }

    public function testTheOthers(): void
    {
        $d = self::event('disconnect', ['cause' => 'heartbeat-timeout', 'error' => 'no pong']);
        $this->assertInstanceOf(DisconnectEvent::class, $d);
        $this->assertSame(['heartbeat-timeout', 'no pong'], [$d->cause, $d->error]);

        $r = self::event('resume', ['counts' => ['replayed_to_client' => 3, 'replayed_from_client' => 1, 'offline_ms' => 1500]]);
        $this->assertInstanceOf(ResumeEvent::class, $r);
        $this->assertSame([3, 1, 1500], [$r->replayedToClient, $r->replayedFromClient, $r->offlineMs]);

        $c = self::event('close', ['cause' => 'kicked', 'counts' => ['unacked' => 2], 'reason' => 'be nice']);
        $this->assertInstanceOf(CloseEvent::class, $c);
        $this->assertSame(['kicked', '', 2, 'be nice'], [$c->cause, $c->error, $c->unacked, $c->reason]);

        $a = self::event('readmit', ['room' => 'red']);
        $this->assertInstanceOf(ReadmitEvent::class, $a);
        $this->assertSame('red', $a->room);

        $rr = self::event('room_recovery', ['room' => 'lobby', 'reason' => 'history-trimmed', 'recovery' => ['readmitted' => true, 'recovered' => 3, 'skipped' => 1, 'lost' => 2]]);
        $this->assertInstanceOf(RoomRecoveryEvent::class, $rr);
        $this->assertSame(['lobby', 'history-trimmed', true, 3, 1, 2], [$rr->room, $rr->reason, $rr->readmitted, $rr->recovered, $rr->skipped, $rr->lost]);
        $unknown = self::event('room_recovery', ['room' => '', 'reason' => 'epoch-changed', 'recovery' => ['readmitted' => true, 'recovered' => 0, 'skipped' => 0, 'lost' => null]]);
        $this->assertSame(['', null], [$unknown->room, $unknown->lost]);

        $p = self::event('presence', ['room' => 'chat.1', 'presence' => 'leave']);
        $this->assertInstanceOf(PresenceEvent::class, $p);
        $this->assertSame(['chat.1', 'leave', false, true], [$p->room, $p->presence, $p->isJoin(), $p->isLeave()]);

        $n = self::event('brand_new', ['thing' => 1]);
        $this->assertInstanceOf(UnknownEvent::class, $n);
        $this->assertSame(1, $n->raw['thing']);
    }

    public function testNotEvents(): void
    {
        foreach (['[]', '"x"', '{"type":"open"}', '{"type":"open","id":"","time":"2026-01-02T03:04:05Z","session":"s"}', '{'] as $json) {
            try {
                WebhookEvent::fromJson($json);
                $this->fail("$json accepted");
            } catch (\InvalidArgumentException $e) {
                $this->assertStringContainsString('not a tether event', $e->getMessage());
            }
        }
    }

    public function testReplies(): void
    {
        $this->assertSame('{"messages":[{"type":"text","text":"hi"},{"type":"binary","data":"AAEC"}]}', json_encode(Reply::messages(Message::text('hi'), Message::binary("\x00\x01\x02"))));
        $this->assertSame('{"messages":[]}', json_encode(Reply::messages()));
        $this->assertSame('{"readmit":true}', json_encode(Reply::readmit(true)));
    }
}
