<?php
// Tests only: the PSR-15 interfaces (psr/http-server-handler and
// psr/http-server-middleware 1.0.x, as published by PHP-FIG), for machines
// without Composer, where Debian does not package them. Loaded by
// bootstrap.php only when they are absent.

declare(strict_types=1);

namespace Psr\Http\Server;

use Psr\Http\Message\ResponseInterface;
use Psr\Http\Message\ServerRequestInterface;

interface RequestHandlerInterface
{
    public function handle(ServerRequestInterface $request): ResponseInterface;
}

interface MiddlewareInterface
{
    public function process(ServerRequestInterface $request, RequestHandlerInterface $handler): ResponseInterface;
}
