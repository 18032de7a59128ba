<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 413 body_too_large: the request body is over the limit. */
class PayloadTooLargeException extends ApiException
{
}
