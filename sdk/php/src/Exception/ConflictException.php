<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 409. */
class ConflictException extends ApiException
{
}
