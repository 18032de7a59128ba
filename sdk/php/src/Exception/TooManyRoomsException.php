<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 409 too_many_rooms: the session is in -max-rooms-per-session rooms already. */
class TooManyRoomsException extends ConflictException
{
}
