<?php

declare(strict_types=1);

namespace Tether;

/**
 * An application message: text (UTF-8) or binary. Used to send through the
 * API and in a webhook's reply; history pages and message events carry
 * them too.
 */
final class Message
{
    public const TEXT = 'text';
    public const BINARY = 'binary';

    /**
     * @param string $type    Message::TEXT or Message::BINARY
     * @param string $payload the text, or the raw bytes of a binary message (not base64)
     */
    private function __construct(
        public readonly string $type,
        public readonly string $payload,
    ) {
    }

    public static function text(string $text): self
    {
        return new self(self::TEXT, $text);
    }

    /** A binary message of these raw bytes (the SDK does the base64). */
    public static function binary(string $bytes): self
    {
        return new self(self::BINARY, $bytes);
    }

    public function isText(): bool
    {
        return $this->type === self::TEXT;
    }

    /** The wire form: {"type":"text","text":…} or {"type":"binary","data":"<base64>"}. */
    public function toArray(): array
    {
        return $this->isText()
            ? ['type' => self::TEXT, 'text' => $this->payload]
            : ['type' => self::BINARY, 'data' => base64_encode($this->payload)];
    }

    /** Reads the wire form; null when $a is not a message. */
    public static function fromArray(array $a): ?self
    {
        if (($a['type'] ?? null) === self::TEXT && is_string($a['text'] ?? '')) {
            return self::text((string) ($a['text'] ?? ''));
        }
        if (($a['type'] ?? null) === self::BINARY) {
            $bytes = base64_decode((string) ($a['data'] ?? ''), true);
            return $bytes === false ? null : self::binary($bytes);
        }
        return null;
    }
}
