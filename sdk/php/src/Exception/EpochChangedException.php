<?php

declare(strict_types=1);

namespace Tether\Exception;

/**
 * 409 epoch_changed: a history page asked for an epoch the room no longer
 * has (its history was lost between two pages). Start again from since=0
 * in the current epoch.
 */
class EpochChangedException extends ConflictException
{
    /** The room's current epoch. */
    public function currentEpoch(): string
    {
        return (string) ($this->body['epoch'] ?? '');
    }

    /** The oldest offset the room's history now holds. */
    public function first(): int
    {
        return (int) ($this->body['first'] ?? 0);
    }

    /** The room's last offset. */
    public function last(): int
    {
        return (int) ($this->body['last'] ?? 0);
    }
}
