<?php

declare(strict_types=1);

namespace Tether\Tests;

use PHPUnit\Framework\TestCase;
use Tether\Client;
use Tether\Exception\ApiException;
use Tether\Exception\BadRequestException;
use Tether\Exception\EpochChangedException;
use Tether\Exception\MessageTooBigException;
use Tether\Exception\MethodNotAllowedException;
use Tether\Exception\NotMemberException;
use Tether\Exception\RoomNotFoundException;
use Tether\Exception\SessionClosedException;
use Tether\Exception\SessionNotFoundException;
use Tether\Exception\TooManyRoomsException;
use Tether\Exception\UnauthorizedException;
use Tether\Exception\UserNotFoundException;
use Tether\Http\CurlTransport;
use Tether\Http\Transport;
use Tether\Message;
use Tether\Result\SessionInfo;
use Tether\Tests\Support\TetherServer;
use Tether\Tests\Support\WsClient;

/**
 * Every endpoint of docs/API.md against the real tether binary, through
 * ext-curl (StreamTransportClientTest runs them again on PHP streams).
 */
class ClientTest extends TestCase
{
    protected static ?TetherServer $server = null;
    protected Client $tether;
    /** @var list<WsClient> */
    private array $clients = [];

    protected function transport(): Transport
    {
        return new CurlTransport();
    }

    public static function setUpBeforeClass(): void
    {
        static::$server = null;
    }

    public static function tearDownAfterClass(): void
    {
        static::$server?->stop();
        static::$server = null;
    }

    protected function setUp(): void
    {
        TetherServer::require($this);
        static::$server ??= TetherServer::start([
            '-max-message-size', '4096',
            '-room-history-bytes', '4096',
            '-max-rooms-per-session', '3',
            '-rooms', '[{"pattern":"nohist-*","history-messages":0}]',
        ]);
        $this->tether = new Client(static::$server->baseUrl, TetherServer::API_KEY, transport: $this->transport());
    }

    protected function tearDown(): void
    {
        foreach ($this->clients as $c) {
            $c->close();
        }
        if ($this->hasFailed() && static::$server !== null) {
            fwrite(STDERR, "\n--- tether output:\n" . substr(static::$server->output(), -4000) . "\n");
        }
    }

    /** A client of $user in $rooms, once the server lists it in them (it joins them just after WELCOME). */
    private function connect(string $user, array $rooms = []): WsClient
    {
        $c = $this->clients[] = static::$server->connect($user, $rooms);
        $deadline = microtime(true) + 10;
        while ($rooms !== [] && $this->tether->session($c->sessionId)->rooms !== $rooms) {
            $this->assertLessThan($deadline, microtime(true), "session {$c->sessionId} not in its rooms within 10 s");
            usleep(10_000);
        }
        return $c;
    }

    private static function unique(string $prefix): string
    {
        return $prefix . '-' . bin2hex(random_bytes(4));
    }

    public function testSendToSession(): void
    {
        $alice = $this->connect(self::unique('alice'));
        $r = $this->tether->send($alice->sessionId, Message::text('hello alice'));
        $this->assertSame($alice->sessionId, $r->session);
        $this->assertSame(1, $r->queued);
        $this->assertSame(1, $r->pending, 'the test client acknowledges nothing');
        $this->assertSame('hello alice', $alice->nextText());
        $r = $this->tether->send($alice->sessionId, Message::binary("\x00\xff"));
        $this->assertSame(2, $r->pending);
    }

    public function testSendToUser(): void
    {
        $user = self::unique('bob');
        $a = $this->connect($user);
        $b = $this->connect($user);
        $r = $this->tether->sendToUser($user, Message::text('to both'));
        $this->assertSame([$user, 2, 2, false], [$r->user, $r->queued, $r->sessions, $r->stored]);
        $this->assertSame('to both', $a->nextText());
        $this->assertSame('to both', $b->nextText());

        $this->expectException(UserNotFoundException::class);
        $this->tether->sendToUser(self::unique('nobody'), Message::text('lost?'));
    }

    public function testBroadcastAndHistory(): void
    {
        $room = self::unique('chat');
        $carol = $this->connect(self::unique('carol'), [$room]);
        $first = $this->tether->broadcast($room, Message::text('one'));
        $this->assertSame([$room, 1, 1, 1, true, null], [$first->room, $first->offset, $first->queued, $first->members, $first->stored, $first->warning]);
        $this->assertNotSame('', $first->epoch);
        $this->assertSame(2, $this->tether->broadcast($room, Message::binary("\x01\x02\x03"))->offset);
        $this->assertSame(3, $this->tether->broadcast($room, Message::text('thrée'))->offset);
        $this->assertSame('one', $carol->nextText());

        $all = $this->tether->history($room);
        $this->assertSame([$room, $first->epoch, 1, 3, false, null], [$all->room, $all->epoch, $all->first, $all->last, $all->hasMore, $all->next]);
        $this->assertSame([1, 2, 3], array_map(fn ($m) => $m->offset, $all->messages));
        $this->assertEquals([Message::text('one'), Message::binary("\x01\x02\x03"), Message::text('thrée')], array_map(fn ($m) => $m->message, $all->messages));

        $page = $this->tether->history($room, since: 0, limit: 2);
        $this->assertTrue($page->hasMore);
        $this->assertSame(2, $page->next);
        $page2 = $this->tether->history($room, since: $page->next, limit: 2, epoch: $page->epoch);
        $this->assertSame([3], array_map(fn ($m) => $m->offset, $page2->messages));
        $this->assertFalse($page2->hasMore);

        $offsets = [];
        foreach ($this->tether->historyAll($room, pageSize: 1) as $offset => $m) {
            $offsets[] = $offset;
        }
        $this->assertSame([1, 2, 3], $offsets);

        try {
            $this->tether->history($room, epoch: 'not-the-epoch');
            $this->fail('no EpochChangedException');
        } catch (EpochChangedException $e) {
            $this->assertSame([409, 'epoch_changed', $first->epoch, 1, 3], [$e->status, $e->errorCode, $e->currentEpoch(), $e->first(), $e->last()]);
        }

        $empty = $this->tether->history(self::unique('never'));
        $this->assertSame(['', [], 1, 0], [$empty->epoch, $empty->messages, $empty->first, $empty->last]);
    }

    public function testBroadcastToAnEmptyRoom(): void
    {
        // Kept in history for members that come back.
        $r = $this->tether->broadcast(self::unique('empty'), Message::text('anyone?'));
        $this->assertSame([0, 0, true], [$r->queued, $r->members, $r->stored]);
        // No member and no history: nobody would ever get it.
        $this->expectException(RoomNotFoundException::class);
        $this->tether->broadcast(self::unique('nohist'), Message::text('anyone?'));
    }

    public function testPresence(): void
    {
        $room = self::unique('pres');
        $zed = $this->connect('zed-' . $room, [$room]);
        $amy = $this->connect('amy-' . $room, [$room]);
        $p = $this->tether->presence($room);
        $this->assertSame($room, $p->room);
        $expected = [$zed->sessionId => 'zed-' . $room, $amy->sessionId => 'amy-' . $room];
        ksort($expected, SORT_STRING);
        $this->assertSame($expected, $p->sessions);
        $this->assertSame(['amy-' . $room, 'zed-' . $room], $p->users);
        $none = $this->tether->presence(self::unique('nobody-here'));
        $this->assertSame([[], []], [$none->sessions, $none->users]);
    }

    public function testJoinLeaveAndRooms(): void
    {
        $home = self::unique('home');
        $red = self::unique('red');
        $dan = $this->connect(self::unique('dan'), [$home]);
        $m = $this->tether->join($red, $dan->sessionId);
        $this->assertSame($red, $m->room);
        $this->assertSame($dan->sessionId, $m->session);
        $this->assertEqualsCanonicalizing([$home, $red], $m->rooms);
        $this->assertSame("in $red", $this->broadcastAndRead($red, $dan));

        $room = $this->tether->room($red);
        $this->assertSame([$red, 1, [$dan->sessionId]], [$room->name, $room->size, $room->members]);
        $this->assertEquals($room, $this->tether->roomMembers($red));
        $names = array_map(fn ($r) => $r->name, $this->tether->rooms());
        $this->assertContains($red, $names);
        $this->assertContains($home, $names);

        $m = $this->tether->leave($red, $dan->sessionId);
        $this->assertSame([$home], $m->rooms);
        try {
            $this->tether->room($red);
            $this->fail('no RoomNotFoundException for a room without members');
        } catch (RoomNotFoundException $e) {
            $this->assertSame(404, $e->status);
        }
        try {
            $this->tether->leave($red, $dan->sessionId);
            $this->fail('no NotMemberException');
        } catch (NotMemberException $e) {
            $this->assertSame('not_member', $e->errorCode);
        }
        $this->tether->join(self::unique('two'), $dan->sessionId);
        $this->tether->join(self::unique('three'), $dan->sessionId);
        $this->expectException(TooManyRoomsException::class);
        $this->tether->join(self::unique('four'), $dan->sessionId);
    }

    private function broadcastAndRead(string $room, WsClient $c): string
    {
        $this->tether->broadcast($room, Message::text("in $room"));
        return $c->nextText();
    }

    public function testSessions(): void
    {
        $user = self::unique('erin');
        $room = self::unique('lounge');
        $one = $this->connect($user, [$room]);
        $two = $this->connect($user);
        $list = $this->tether->sessions(user: $user);
        $this->assertSame([$one->sessionId, $two->sessionId], array_map(fn (SessionInfo $s) => $s->id, $list->sessions));
        $this->assertNull($list->nextCursor);
        $s = $list->sessions[0];
        $this->assertSame([$user, SessionInfo::CONNECTED, true, null, [$room]], [$s->user, $s->state, $s->isConnected(), $s->disconnectedSince, $s->rooms]);
        $this->assertSame('127.0.0.1', explode(':', $s->meta['remote_addr'] ?? '')[0]);
        $this->assertLessThanOrEqual(time() + 1, $s->created->getTimestamp());

        $this->assertSame([$one->sessionId], array_map(fn ($s) => $s->id, $this->tether->sessions(room: $room)->sessions));

        $page = $this->tether->sessions(user: $user, limit: 1);
        $this->assertSame([$one->sessionId], array_map(fn ($s) => $s->id, $page->sessions));
        $this->assertNotNull($page->nextCursor);
        $page2 = $this->tether->sessions(user: $user, limit: 1, cursor: $page->nextCursor);
        $this->assertSame([$two->sessionId], array_map(fn ($s) => $s->id, $page2->sessions));

        $this->tether->send($two->sessionId, Message::text('pending'));
        $info = $this->tether->session($two->sessionId);
        $this->assertSame([$two->sessionId, $user, 1], [$info->id, $info->user, $info->pending]);
        $this->assertGreaterThanOrEqual(1, count($this->tether->sessions()->sessions));
    }

    public function testKick(): void
    {
        $fay = $this->connect(self::unique('fay'));
        $r = $this->tether->kick($fay->sessionId, 'be nice');
        $this->assertSame([$fay->sessionId, true, 'be nice'], [$r->session, $r->closed, $r->reason]);
        $this->assertSame(4410, $fay->waitClose());
        // The session is closing, then gone.
        $deadline = microtime(true) + 10;
        while (true) {
            try {
                $this->tether->session($fay->sessionId);
                $this->fail('the kicked session is still there');
            } catch (SessionClosedException $e) {
                $this->assertLessThan($deadline, microtime(true), 'still closing after 10 s');
                usleep(20_000);
            } catch (SessionNotFoundException $e) {
                $this->assertSame(404, $e->status);
                break;
            }
        }
        $gus = $this->connect(self::unique('gus'));
        $this->assertSame('kicked', $this->tether->kick($gus->sessionId)->reason, 'the default reason');
    }

    public function testErrors(): void
    {
        $cases = [
            'wrong key' => [UnauthorizedException::class, 401, 'unauthorized', fn () => (new Client(static::$server->baseUrl, 'wrong', transport: $this->transport()))->rooms()],
            'unknown session' => [SessionNotFoundException::class, 404, 'session_not_found', fn () => $this->tether->send('no-such-session', Message::text('x'))],
            'bad room name' => [BadRequestException::class, 400, 'invalid_room', fn () => $this->tether->broadcast(str_repeat('r', 129), Message::text('x'))],
            'too big' => [MessageTooBigException::class, 413, 'message_too_big', fn () => $this->tether->broadcast('big', Message::text(str_repeat('x', 4097)))],
            'bad parameter' => [BadRequestException::class, 400, 'invalid_parameter', fn () => $this->tether->history('lobby', limit: 5000)],
            'wrong method' => [MethodNotAllowedException::class, 405, 'method_not_allowed', fn () => $this->tether->call('PUT', '/api/rooms')],
        ];
        foreach ($cases as $name => [$class, $status, $code, $call]) {
            try {
                $call();
                $this->fail("$name: no exception");
            } catch (ApiException $e) {
                $this->assertInstanceOf($class, $e, $name);
                $this->assertSame([$status, $code], [$e->status, $e->errorCode], $name);
                $this->assertNotSame('', $e->apiMessage, $name);
            }
        }
    }
}
