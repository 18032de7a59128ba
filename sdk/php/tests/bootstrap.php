<?php
// PHPUnit bootstrap. Composer's autoloader when there is one; otherwise
// (CI installs Debian's phpunit, and packagist is out of reach) the SDK's
// own autoload.php, Debian's PSR-7/PSR-17 packages (php-nyholm-psr7
// brings php-psr-http-message and php-psr-http-factory), and the two
// PSR-15 interfaces, which Debian does not package, from
// tests/Support/psr15.php (copies of psr/http-server-handler and
// psr/http-server-middleware 1.0; composer.json requires the real ones).

declare(strict_types=1);

if (is_file(__DIR__ . '/../vendor/autoload.php')) {
    require __DIR__ . '/../vendor/autoload.php';
} else {
    require __DIR__ . '/../autoload.php';
    foreach (['/usr/share/php/Nyholm/Psr7/autoload.php'] as $file) {
        if (is_file($file)) {
            require_once $file;
        }
    }
    spl_autoload_register(static function (string $class): void {
        if (str_starts_with($class, 'Tether\\Tests\\')) {
            $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen('Tether\\Tests\\'))) . '.php';
            if (is_file($file)) {
                require $file;
            }
        }
    });
}
if (interface_exists(Psr\Http\Message\ServerRequestInterface::class)
    && !interface_exists(Psr\Http\Server\MiddlewareInterface::class)) {
    require __DIR__ . '/Support/psr15.php';
}
