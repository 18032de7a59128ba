<?php

declare(strict_types=1);

namespace Tether;

use Tether\Exception\ApiException;
use Tether\Exception\ReplayBufferOverflowException;
use Tether\Exception\TransportException;
use Tether\Http\CurlTransport;
use Tether\Http\Response;
use Tether\Http\StreamTransport;
use Tether\Http\Transport;
use Tether\Result\BroadcastResult;
use Tether\Result\HistoryPage;
use Tether\Result\KickResult;
use Tether\Result\Membership;
use Tether\Result\Presence;
use Tether\Result\Room;
use Tether\Result\SendResult;
use Tether\Result\SessionInfo;
use Tether\Result\SessionList;
use Tether\Result\UserSendResult;

/**
 * The tether HTTP API (docs/API.md), one method per endpoint.
 *
 *     $tether = new Tether\Client('http://127.0.0.1:8080', getenv('TETHER_API_KEY'));
 *     $tether->broadcast('lobby', Tether\Message::text('hello all'));
 *
 * Errors are typed: an error answer throws the ApiException subclass of
 * its code (RoomNotFoundException for room_not_found, …); no answer throws
 * a TransportException (TimeoutException after $timeout).
 *
 * Retries: a 503 `shutting_down` or `unavailable` (the server did not take
 * the call) is retried up to $maxRetries times, after the server's
 * Retry-After when it sends one (it does while draining: 1 s), else after
 * an exponential backoff with full jitter (a random delay up to
 * 100 ms · 2^(attempt−1)); every delay is at most $maxRetryDelay. A 503
 * `overflow` is not retried (the session is gone). A request that could not
 * connect is retried whatever its method; a GET is also retried after a
 * timeout or a cut connection; a POST or DELETE is not (the server may
 * have done it: sending it again could publish a message twice).
 */
final class Client
{
    private readonly string $baseUrl;
    private readonly Transport $transport;
    /** @var \Closure(float): void */
    private readonly \Closure $sleep;

    /**
     * @param string         $baseUrl        tether's base URL, e.g. http://127.0.0.1:8080 (no /api)
     * @param string         $apiKey         the server's -api-key
     * @param float          $timeout        seconds for one attempt; 0 or less means the default, 5.
     *                                       From a webhook handler keep it well under tether's -webhook-timeout
     * @param float          $connectTimeout seconds to connect; 0 or less means the default, 2
     * @param int            $maxRetries     retries after the first attempt; 0 means none (default 2)
     * @param float          $maxRetryDelay  the longest wait between attempts, in seconds, whatever Retry-After
     *                                       says; 0 or less means the default, 10
     * @param Transport|null $transport      null: CurlTransport with ext-curl, else StreamTransport
     * @param \Closure|null  $sleep          fn(float $seconds): void, to wait between attempts; null: usleep
     *                                       (a Swoole server passes Swoole\Coroutine::sleep(...))
     */
    public function __construct(
        string $baseUrl,
        private readonly string $apiKey,
        private readonly float $timeout = 5.0,
        private readonly float $connectTimeout = 2.0,
        private readonly int $maxRetries = 2,
        private readonly float $maxRetryDelay = 10.0,
        ?Transport $transport = null,
        ?\Closure $sleep = null,
    ) {
        if (!preg_match('{^https?://}i', $baseUrl)) {
            throw new \InvalidArgumentException("tether base URL must start with http:// or https://, not \"$baseUrl\"");
        }
        $this->baseUrl = rtrim($baseUrl, '/');
        $this->transport = $transport ?? (extension_loaded('curl') ? new CurlTransport() : new StreamTransport());
        $this->sleep = $sleep ?? static function (float $seconds): void {
            usleep((int) round($seconds * 1e6));
        };
    }

    /** POST /api/sessions/{id}/send: queues a message for one session, connected or not. */
    public function send(string $sessionId, Message $message): SendResult
    {
        return SendResult::fromArray($this->call('POST', '/api/sessions/' . self::seg($sessionId) . '/send', $message->toArray()));
    }

    /** POST /api/users/{user}/send: queues a message for every session of a user (or its user stream). */
    public function sendToUser(string $user, Message $message): UserSendResult
    {
        return UserSendResult::fromArray($this->call('POST', '/api/users/' . self::seg($user) . '/send', $message->toArray()));
    }

    /** POST /api/rooms/{room}/broadcast: publishes a message to a room (history, then every member). */
    public function broadcast(string $room, Message $message): BroadcastResult
    {
        return BroadcastResult::fromArray($this->call('POST', '/api/rooms/' . self::seg($room) . '/broadcast', $message->toArray()));
    }

    /**
     * GET /api/rooms/{room}/history: one page of the room's history, oldest first.
     *
     * @param int         $since  offsets above this one; 0 means from the oldest kept
     * @param int|null    $limit  1–1000; null means the server's default (100)
     * @param string|null $epoch  the epoch of the previous page: EpochChangedException if the room's history was lost since
     */
    public function history(string $room, int $since = 0, ?int $limit = null, ?string $epoch = null): HistoryPage
    {
        $query = array_filter(['since' => $since > 0 ? $since : null, 'limit' => $limit, 'epoch' => $epoch], static fn ($v) => $v !== null);
        return HistoryPage::fromArray($this->call('GET', '/api/rooms/' . self::seg($room) . '/history', null, $query));
    }

    /**
     * Every message the room's history holds above $since, page after page
     * (each page in the first page's epoch: EpochChangedException if the
     * history was lost meanwhile).
     *
     * @return \Generator<int, \Tether\Result\HistoryMessage> offset => message
     */
    public function historyAll(string $room, int $since = 0, int $pageSize = 1000): \Generator
    {
        $epoch = null;
        do {
            $page = $this->history($room, $since, $pageSize, $epoch);
            $epoch = $page->epoch;
            foreach ($page->messages as $m) {
                yield $m->offset => $m;
            }
            $since = $page->next ?? $since;
        } while ($page->hasMore && $page->next !== null);
    }

    /** GET /api/rooms/{room}/presence: the sessions in the room and their users, on every server. */
    public function presence(string $room): Presence
    {
        return Presence::fromArray($this->call('GET', '/api/rooms/' . self::seg($room) . '/presence'));
    }

    /** POST /api/rooms/{room}/members: the session joins the room (a no-op if it is in it). */
    public function join(string $room, string $sessionId): Membership
    {
        return Membership::fromArray($this->call('POST', '/api/rooms/' . self::seg($room) . '/members', ['session' => $sessionId]));
    }

    /** DELETE /api/rooms/{room}/members/{session}: the session leaves the room (NotMemberException if it is not in it). */
    public function leave(string $room, string $sessionId): Membership
    {
        return Membership::fromArray($this->call('DELETE', '/api/rooms/' . self::seg($room) . '/members/' . self::seg($sessionId)));
    }

    /**
     * DELETE /api/sessions/{id}: ends the session; its client gets close 4410 with the reason and does not reconnect.
     *
     * @param string|null $reason at most 123 bytes; null means the server's default, "kicked"
     */
    public function kick(string $sessionId, ?string $reason = null): KickResult
    {
        return KickResult::fromArray($this->call('DELETE', '/api/sessions/' . self::seg($sessionId), $reason === null ? null : ['reason' => $reason]));
    }

    /**
     * GET /api/sessions: one page of sessions, oldest first.
     *
     * @param string|null $room   only the sessions in this room (every server)
     * @param string|null $user   only this user's sessions (every server)
     * @param int|null    $limit  1–1000; null means the server's default (100)
     * @param string|null $cursor the previous page's nextCursor
     */
    public function sessions(?string $room = null, ?string $user = null, ?int $limit = null, ?string $cursor = null): SessionList
    {
        $query = array_filter(['room' => $room, 'user' => $user, 'limit' => $limit, 'cursor' => $cursor], static fn ($v) => $v !== null);
        return SessionList::fromArray($this->call('GET', '/api/sessions', null, $query));
    }

    /** GET /api/sessions/{id}. */
    public function session(string $sessionId): SessionInfo
    {
        return SessionInfo::fromArray($this->call('GET', '/api/sessions/' . self::seg($sessionId)));
    }

    /**
     * GET /api/rooms: the rooms that have members, sorted by name.
     *
     * @return list<Room>
     */
    public function rooms(): array
    {
        $a = $this->call('GET', '/api/rooms');
        return array_map(static fn (array $r) => Room::fromArray($r), array_values($a['rooms'] ?? []));
    }

    /** GET /api/rooms/{room}: one room (RoomNotFoundException if it has no member). */
    public function room(string $room): Room
    {
        return Room::fromArray($this->call('GET', '/api/rooms/' . self::seg($room)));
    }

    /** GET /api/rooms/{room}/members: the same answer as room(). */
    public function roomMembers(string $room): Room
    {
        return Room::fromArray($this->call('GET', '/api/rooms/' . self::seg($room) . '/members'));
    }

    /**
     * Calls any API path and returns the decoded JSON answer, with the
     * client's authentication, retries and errors.
     *
     * @param array<string,mixed>|null $body  sent as JSON; null sends none
     * @param array<string,scalar>     $query
     * @return array<string,mixed>
     * @throws ApiException|TransportException
     */
    public function call(string $method, string $path, ?array $body = null, array $query = []): array
    {
        $url = $this->baseUrl . $path . ($query === [] ? '' : '?' . http_build_query($query, '', '&', PHP_QUERY_RFC3986));
        $headers = ['Authorization' => 'Bearer ' . $this->apiKey, 'Accept' => 'application/json'];
        $payload = null;
        if ($body !== null) {
            $payload = json_encode($body, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
            $headers['Content-Type'] = 'application/json';
        }
        $timeout = $this->timeout > 0 ? $this->timeout : 5.0;
        $connectTimeout = $this->connectTimeout > 0 ? $this->connectTimeout : 2.0;
        for ($attempt = 1; ; $attempt++) {
            try {
                $response = $this->transport->send($method, $url, $headers, $payload, $timeout, $connectTimeout);
            } catch (TransportException $e) {
                $again = $e->connectFailed || ($method === 'GET');
                if (!$again || $attempt > $this->maxRetries) {
                    throw $e;
                }
                $this->wait($this->backoff($attempt));
                continue;
            }
            if ($response->status >= 200 && $response->status < 300) {
                return $this->decode($response, $method, $path);
            }
            $error = $this->error($response, $method, $path);
            if (!self::retryable($error) || $attempt > $this->maxRetries) {
                throw $error;
            }
            $this->wait($error->retryAfter ?? $this->backoff($attempt));
        }
    }

    /** Whether an error answer means the server did not take the call and another try may work. */
    private static function retryable(ApiException $e): bool
    {
        return $e->status === 503 && !$e instanceof ReplayBufferOverflowException;
    }

    private function wait(float $seconds): void
    {
        $max = $this->maxRetryDelay > 0 ? $this->maxRetryDelay : 10.0;
        ($this->sleep)(max(0.0, min($seconds, $max)));
    }

    /** Full jitter: a random delay in [0, 100 ms · 2^(attempt−1)]. */
    private function backoff(int $attempt): float
    {
        $ceiling = 0.1 * (2 ** min($attempt - 1, 10));
        return $ceiling * (mt_rand() / mt_getrandmax());
    }

    private function decode(Response $response, string $method, string $path): array
    {
        try {
            $a = json_decode($response->body, true, 512, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new TransportException(sprintf('failed to decode the answer to %s %s: %s', $method, $path, $e->getMessage()), false, $e);
        }
        return is_array($a) ? $a : [];
    }

    private function error(Response $response, string $method, string $path): ApiException
    {
        $a = json_decode($response->body, true);
        $a = is_array($a) ? $a : [];
        $code = $a['error']['code'] ?? null;
        $message = $a['error']['message'] ?? null;
        return ApiException::fromAnswer(
            $response->status,
            is_string($code) ? $code : 'http_' . $response->status,
            is_string($message) ? $message : trim(substr($response->body, 0, 200)),
            $method,
            $path,
            $a,
            self::retryAfter($response->header('Retry-After')),
        );
    }

    /** Retry-After in seconds (a number or an HTTP date), or null. */
    private static function retryAfter(?string $value): ?float
    {
        if ($value === null || trim($value) === '') {
            return null;
        }
        $value = trim($value);
        if (is_numeric($value)) {
            return max(0.0, (float) $value);
        }
        $at = strtotime($value);
        return $at === false ? null : (float) max(0, $at - time());
    }

    private static function seg(string $s): string
    {
        return rawurlencode($s);
    }
}
