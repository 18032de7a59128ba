<?php

declare(strict_types=1);

namespace Tether\Webhook\Event;

/**
 * A webhook event (docs/API.md, "Webhooks"). fromArray() returns the
 * subclass of its type: OpenEvent, MessageEvent, DisconnectEvent,
 * ResumeEvent, CloseEvent, ReadmitEvent, RoomRecoveryEvent, PresenceEvent;
 * UnknownEvent for a type this SDK does not know yet.
 */
abstract class WebhookEvent
{
    /** The event's type, e.g. "message". */
    public readonly string $type;
    /** The idempotency key, equal to the Tether-Idempotency-Key header. */
    public readonly string $id;
    /** When it happened. */
    public readonly \DateTimeImmutable $time;
    /** The session; events of one session arrive one at a time, in order. */
    public readonly string $session;
    /** The authenticated user, "" for an anonymous client. */
    public readonly string $user;
    /** @var array<string,string> the session's metadata: remote_addr, user_agent, previous_session */
    public readonly array $meta;
    /** @var array<string,mixed> the decoded JSON, for fields this SDK does not know */
    public readonly array $raw;

    private const TYPES = [
        'open' => OpenEvent::class,
        'message' => MessageEvent::class,
        'disconnect' => DisconnectEvent::class,
        'resume' => ResumeEvent::class,
        'close' => CloseEvent::class,
        'readmit' => ReadmitEvent::class,
        'room_recovery' => RoomRecoveryEvent::class,
        'presence' => PresenceEvent::class,
    ];

    final protected function __construct(array $a)
    {
        $this->type = (string) $a['type'];
        $this->id = (string) $a['id'];
        $this->session = (string) $a['session'];
        $this->time = new \DateTimeImmutable((string) $a['time']);
        $this->user = (string) ($a['user'] ?? '');
        $this->meta = array_map('strval', is_array($a['meta'] ?? null) ? $a['meta'] : []);
        $this->raw = $a;
        $this->init($a);
    }

    /** Reads the fields of the event's own type. */
    abstract protected function init(array $a): void;

    /**
     * The event of this decoded JSON.
     *
     * @throws \InvalidArgumentException when a field every event has is missing or of the wrong type
     */
    public static function fromArray(array $a): self
    {
        foreach (['type', 'id', 'session', 'time'] as $field) {
            if (!is_string($a[$field] ?? null) || ($field !== 'session' && $a[$field] === '')) {
                throw new \InvalidArgumentException("not a tether event: \"$field\" is missing or not a string");
            }
        }
        try {
            new \DateTimeImmutable($a['time']);
        } catch (\Exception $e) {
            throw new \InvalidArgumentException('not a tether event: "time" is not a time', 0, $e);
        }
        $class = self::TYPES[$a['type']] ?? UnknownEvent::class;
        return new $class($a);
    }

    /**
     * The event of this JSON body.
     *
     * @throws \InvalidArgumentException when it is not a tether event
     */
    public static function fromJson(string $json): self
    {
        try {
            $a = json_decode($json, true, 64, JSON_THROW_ON_ERROR);
        } catch (\JsonException $e) {
            throw new \InvalidArgumentException('not a tether event: ' . $e->getMessage(), 0, $e);
        }
        if (!is_array($a)) {
            throw new \InvalidArgumentException('not a tether event: not a JSON object');
        }
        return self::fromArray($a);
    }

    /** The client's address, as tether saw it. */
    public function remoteAddr(): ?string
    {
        return $this->meta['remote_addr'] ?? null;
    }

    /** The session this one replaced after a resume was impossible, if any. */
    public function previousSession(): ?string
    {
        return $this->meta['previous_session'] ?? null;
    }

    /** A count of the wire: -1 means unknown, given as null. */
    protected static function count(array $counts, string $name): ?int
    {
        $n = (int) ($counts[$name] ?? 0);
        return $n < 0 ? null : $n;
    }
}
