<?php

declare(strict_types=1);

namespace Tether\Result;

/** A session, as GET /api/sessions and GET /api/sessions/{id} describe it. */
final class SessionInfo
{
    public const CONNECTED = 'connected';
    public const DISCONNECTED = 'disconnected';

    /**
     * @param string                  $state             SessionInfo::CONNECTED, or DISCONNECTED (waiting within the grace window)
     * @param \DateTimeImmutable|null $disconnectedSince null while connected
     * @param int                     $pending           server messages the client has not acknowledged
     * @param list<string>            $rooms
     * @param array<string,string>    $meta              remote_addr, user_agent, previous_session
     */
    public function __construct(
        public readonly string $id,
        public readonly string $user,
        public readonly string $state,
        public readonly ?\DateTimeImmutable $disconnectedSince,
        public readonly int $pending,
        public readonly array $rooms,
        public readonly \DateTimeImmutable $created,
        public readonly array $meta,
    ) {
    }

    public function isConnected(): bool
    {
        return $this->state === self::CONNECTED;
    }

    public static function fromArray(array $a): self
    {
        return new self(
            (string) ($a['id'] ?? ''),
            (string) ($a['user'] ?? ''),
            (string) ($a['state'] ?? ''),
            isset($a['disconnected_since']) ? new \DateTimeImmutable((string) $a['disconnected_since']) : null,
            (int) ($a['pending'] ?? 0),
            array_map('strval', array_values($a['rooms'] ?? [])),
            new \DateTimeImmutable((string) ($a['created'] ?? '@0')),
            array_map('strval', (array) ($a['meta'] ?? [])),
        );
    }
}
