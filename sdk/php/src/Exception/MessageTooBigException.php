<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 413 message_too_big: the message is over -max-message-size. */
class MessageTooBigException extends PayloadTooLargeException
{
}
