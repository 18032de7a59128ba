<?php

declare(strict_types=1);

namespace Tether\Exception;

/**
 * An error answer of the tether HTTP API: {"error":{"code":…,"message":…}}.
 * Catch a subclass for one status or one code (RoomNotFoundException,
 * SessionClosedException, …), or this class for all of them.
 */
class ApiException extends \RuntimeException implements TetherException
{
    /** The error code → class map; codes not listed get their status's class. */
    private const BY_CODE = [
        'session_not_found' => SessionNotFoundException::class,
        'user_not_found' => UserNotFoundException::class,
        'room_not_found' => RoomNotFoundException::class,
        'not_member' => NotMemberException::class,
        'session_closed' => SessionClosedException::class,
        'too_many_rooms' => TooManyRoomsException::class,
        'epoch_changed' => EpochChangedException::class,
        'message_too_big' => MessageTooBigException::class,
        'overflow' => ReplayBufferOverflowException::class,
        'shutting_down' => ShuttingDownException::class,
        'api_disabled' => ApiDisabledException::class,
    ];

    private const BY_STATUS = [
        400 => BadRequestException::class,
        401 => UnauthorizedException::class,
        403 => ForbiddenException::class,
        404 => NotFoundException::class,
        405 => MethodNotAllowedException::class,
        409 => ConflictException::class,
        413 => PayloadTooLargeException::class,
        503 => ServiceUnavailableException::class,
    ];

    /**
     * @param int          $status     the HTTP status
     * @param string       $errorCode  the API's error code (snake_case), or "http_<status>" when the body had none
     * @param string       $apiMessage the API's message
     * @param array<mixed> $body       the whole decoded error body (409 epoch_changed has more fields)
     * @param float|null   $retryAfter seconds the server asked to wait (Retry-After), if it did
     */
    final public function __construct(
        public readonly int $status,
        public readonly string $errorCode,
        public readonly string $apiMessage,
        public readonly string $method,
        public readonly string $path,
        public readonly array $body = [],
        public readonly ?float $retryAfter = null,
    ) {
        parent::__construct(sprintf('failed to %s %s: %d %s: %s', $method, $path, $status, $errorCode, $apiMessage), $status);
    }

    /** The exception of the right class for an error answer. */
    public static function fromAnswer(int $status, string $errorCode, string $apiMessage, string $method, string $path, array $body, ?float $retryAfter): self
    {
        $class = self::BY_CODE[$errorCode] ?? self::BY_STATUS[$status] ?? self::class;
        return new $class($status, $errorCode, $apiMessage, $method, $path, $body, $retryAfter);
    }
}
