<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 409 session_closed: the session is over, or closing. */
class SessionClosedException extends ConflictException
{
}
