<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 403. */
class ForbiddenException extends ApiException
{
}
