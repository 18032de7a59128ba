<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 400: malformed body, unknown or invalid field, bad room name or query parameter (bad_json, unknown_field, invalid_field, invalid_room, invalid_parameter). */
class BadRequestException extends ApiException
{
}
