<?php

declare(strict_types=1);

namespace Tether\Exception;

/** 503 overflow: the session's replay buffer overflowed; the session ended and its client is told what it lost. Never retried: the message was not queued and the session is gone. */
class ReplayBufferOverflowException extends ServiceUnavailableException
{
}
