<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 404 room_not_found: no member (for a broadcast: no member and no history). */
class RoomNotFoundException extends NotFoundException
{
}
