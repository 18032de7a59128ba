<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 404 not_member: the session is not in the room. */
class NotMemberException extends NotFoundException
{
}
