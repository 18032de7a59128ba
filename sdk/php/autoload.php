<?php
// For projects without Composer: `require 'path/to/sdk/php/autoload.php';`
// does what Composer's autoloader does for this package (PSR-4 for the
// Tether\ namespace, plus the webhook functions). The PSR interfaces the
// middleware implements are not loaded here: with Composer they come
// with the package; without it, install them (Debian: php-psr-http-message,
// php-psr-http-factory) or do not use Tether\Webhook\WebhookMiddleware.

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    if (!str_starts_with($class, 'Tether\\')) {
        return;
    }
    $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen('Tether\\'))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

require_once __DIR__ . '/src/Webhook/functions.php';
