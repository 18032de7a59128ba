<?php

declare(strict_types=1);

namespace Tether\Exception;

/** Every exception the SDK throws implements this. */
interface TetherException extends \Throwable
{
}
