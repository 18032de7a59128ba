<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 401 unauthorized: missing or wrong API key. */
class UnauthorizedException extends ApiException
{
}
