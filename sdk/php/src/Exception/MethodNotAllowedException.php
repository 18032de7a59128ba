<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 405 method_not_allowed. */
class MethodNotAllowedException extends ApiException
{
}
