<?php

declare(strict_types=1);

namespace Tether\Tests\Support;

/**
 * The least of a Tether client that the tests need (docs/PROTOCOL.md):
 * the WebSocket upgrade with subprotocol tether.v1, HELLO for a new
 * session, WELCOME's session ID, and reading application messages. It
 * acknowledges nothing, so what the API sends stays pending.
 */
final class WsClient
{
    /** @param resource $socket */
    private function __construct(private $socket, public readonly string $sessionId)
    {
    }

    public static function connect(int $port, string $token): self
    {
        $socket = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5);
        if ($socket === false) {
            throw new \RuntimeException("failed to connect: $errstr");
        }
        stream_set_timeout($socket, 10);
        $key = base64_encode(random_bytes(16));
        fwrite($socket, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tether.v1\r\n"
            . "Authorization: Bearer $token\r\n\r\n");
        $status = (string) fgets($socket);
        if (!str_contains($status, ' 101 ')) {
            throw new \RuntimeException("upgrade refused: $status");
        }
        while (($line = fgets($socket)) !== false && trim($line) !== '') {
        }
        $c = new self($socket, '');
        $c->sendFrame(hex2bin('0100000000000000ac0200')); // HELLO, new session, window 300
        [$opcode, $frame] = $c->readFrame();
        if ($opcode !== 2 || ($frame[0] ?? '') !== "\x02") {
            throw new \RuntimeException('no WELCOME: opcode ' . $opcode . ' ' . bin2hex($frame));
        }
        $pos = 2; // type, flags
        $len = self::varint($frame, $pos);
        $c = new self($socket, substr($frame, $pos, $len));
        $c->sendFrame("\x05\x00"); // the first frame after WELCOME: ACK 0
        return $c;
    }

    /** The next text message, of the session or of a room; throws on close or after 10 s. */
    public function nextText(): string
    {
        while (true) {
            [$opcode, $frame] = $this->readFrame();
            if ($opcode === 8) {
                $code = strlen($frame) >= 2 ? unpack('n', $frame)[1] : 0;
                throw new ClosedException(substr($frame, 2), $code);
            }
            if ($opcode !== 2) {
                continue;
            }
            $pos = 1;
            switch ($frame[0]) {
                case "\x04": // TEXT: seq, payload
                    self::varint($frame, $pos);
                    return substr($frame, $pos);
                case "\x0a": // ROOM_TEXT: seq, room, offset, payload
                    self::varint($frame, $pos);
                    $pos += self::varint($frame, $pos);
                    self::varint($frame, $pos);
                    return substr($frame, $pos);
            }
        }
    }

    /** Waits for the server to close the connection; returns its close code. */
    public function waitClose(): int
    {
        try {
            while (true) {
                $this->nextText();
            }
        } catch (ClosedException $e) {
            return $e->getCode();
        }
    }

    /** Sends a TEXT message with sequence number $seq (1, 2, … in order; below 128). */
    public function sendText(int $seq, string $text): void
    {
        $this->sendFrame("\x04" . chr($seq) . $text);
    }

    public function close(): void
    {
        if (is_resource($this->socket)) {
            fclose($this->socket);
        }
    }

    private function sendFrame(string $payload): void
    {
        $mask = random_bytes(4);
        $len = strlen($payload);
        $head = "\x82" . ($len < 126 ? chr(0x80 | $len) : chr(0x80 | 126) . pack('n', $len));
        $masked = '';
        for ($i = 0; $i < $len; $i++) {
            $masked .= $payload[$i] ^ $mask[$i % 4];
        }
        fwrite($this->socket, $head . $mask . $masked);
    }

    /** @return array{0:int, 1:string} opcode, payload */
    private function readFrame(): array
    {
        $head = $this->read(2);
        $opcode = ord($head[0]) & 0x0f;
        $len = ord($head[1]) & 0x7f;
        if ($len === 126) {
            $len = unpack('n', $this->read(2))[1];
        } elseif ($len === 127) {
            $len = unpack('J', $this->read(8))[1];
        }
        return [$opcode, $len > 0 ? $this->read($len) : ''];
    }

    private function read(int $n): string
    {
        $out = '';
        while (strlen($out) < $n) {
            $chunk = fread($this->socket, $n - strlen($out));
            if ($chunk === false || $chunk === '') {
                if (stream_get_meta_data($this->socket)['timed_out']) {
                    throw new \RuntimeException('nothing from the server within 10 s');
                }
                throw new ClosedException('connection closed', 0);
            }
            $out .= $chunk;
        }
        return $out;
    }

    private static function varint(string $s, int &$pos): int
    {
        $value = 0;
        $shift = 0;
        do {
            $b = ord($s[$pos++]);
            $value |= ($b & 0x7f) << $shift;
            $shift += 7;
        } while ($b & 0x80);
        return $value;
    }
}
