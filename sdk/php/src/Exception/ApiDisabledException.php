<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 403 api_disabled: the server was started without -api-key. */
class ApiDisabledException extends ForbiddenException
{
}
