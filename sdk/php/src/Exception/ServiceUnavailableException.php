<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 503 unavailable (retried by the client), or a 503 subclass. */
class ServiceUnavailableException extends ApiException
{
}
