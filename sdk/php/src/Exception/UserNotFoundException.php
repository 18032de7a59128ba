<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 404 user_not_found: the user has no session (and no user stream). */
class UserNotFoundException extends NotFoundException
{
}
