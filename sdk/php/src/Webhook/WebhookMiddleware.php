<?php

declare(strict_types=1);

namespace Tether\Webhook;

use Psr\Http\Message\ResponseFactoryInterface;
use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;
use Psr\Http\Message\StreamFactoryInterface;
use Psr\Http\Server\MiddlewareInterface;
use Psr\Http\Server\RequestHandlerInterface;
use Tether\Webhook\Event\WebhookEvent;

/**
 * PSR-15 middleware in front of a webhook handler. It answers by itself
 * what must not reach the handler: 405 to anything but POST, 401 to a bad
 * signature or timestamp, 400 to a body that is not an event, and the
 * first answer (with "Tether-Replayed: true") to a key handled already.
 * Otherwise the handler gets the request with the typed event in the
 * attribute WebhookMiddleware::EVENT, and its 2xx answer is remembered.
 * With a LockingSeenStore (FileSeenStore) the key is locked while the
 * handler runs, so a concurrent repeat waits and gets the recorded answer.
 *
 *     $event = $request->getAttribute(WebhookMiddleware::EVENT); // a WebhookEvent
 */
final class WebhookMiddleware implements MiddlewareInterface
{
    /** The request attribute holding the WebhookEvent. */
    public const EVENT = WebhookEvent::class;

    public function __construct(
        private readonly WebhookVerifier $verifier,
        private readonly ResponseFactoryInterface $responses,
        private readonly StreamFactoryInterface $streams,
    ) {
    }

    public function process(ServerRequestInterface $request, RequestHandlerInterface $handler): ResponseInterface
    {
        if ($request->getMethod() !== 'POST') {
            return $this->json(405, ['error' => ['code' => 'method_not_allowed', 'message' => 'POST only']])->withHeader('Allow', 'POST');
        }
        $body = (string) $request->getBody();
        try {
            $event = $this->verifier->verifySignature($body, $request->getHeaders());
        } catch (VerificationException $e) {
            $code = $e->status === 400 ? 'bad_event' : 'invalid_signature';
            return $this->json($e->status, ['error' => ['code' => $code, 'message' => $e->getMessage()]]);
        }
        $store = $this->verifier->seen;
        $unlock = $store instanceof LockingSeenStore ? $store->lock($event->id) : null;
        try {
            try {
                $this->verifier->checkReplay($event);
            } catch (ReplayedEventException $e) {
                return $this->responses->createResponse($e->answer->status)
                    ->withHeader('Content-Type', $e->answer->contentType)
                    ->withHeader('Tether-Replayed', 'true')
                    ->withBody($this->streams->createStream($e->answer->body));
            }
            $response = $handler->handle($request->withAttribute(self::EVENT, $event));
            $status = $response->getStatusCode();
            if ($status >= 200 && $status < 300) {
                $stream = $response->getBody();
                $answer = (string) $stream;
                if ($stream->isSeekable()) {
                    $stream->rewind();
                }
                $this->verifier->remember($event, $status, $answer, $response->getHeaderLine('Content-Type') ?: 'application/json');
            }
            return $response;
        } finally {
            if ($unlock !== null) {
                $unlock();
            }
        }
    }

    private function json(int $status, array $body): ResponseInterface
    {
        return $this->responses->createResponse($status)
            ->withHeader('Content-Type', 'application/json')
            ->withBody($this->streams->createStream(json_encode($body, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE)));
    }
}
