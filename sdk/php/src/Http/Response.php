<?php

declare(strict_types=1);

namespace Tether\Http;

/** An HTTP answer as a Transport returns it. */
final class Response
{
    /**
     * @param int                  $status  the HTTP status
     * @param array<string,string> $headers header names in lower case; a repeated header's values joined with ", "
     * @param string               $body    the raw body
     */
    public function __construct(
        public readonly int $status,
        public readonly array $headers,
        public readonly string $body,
    ) {
    }

    /** The header's value, or null; $name in any case. */
    public function header(string $name): ?string
    {
        return $this->headers[strtolower($name)] ?? null;
    }
}
