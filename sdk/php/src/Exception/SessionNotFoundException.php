<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 404 session_not_found. */
class SessionNotFoundException extends NotFoundException
{
}
