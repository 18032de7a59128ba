<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 404: unknown route, session, user, room or membership. */
class NotFoundException extends ApiException
{
}
