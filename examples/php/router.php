<?php
// Router for PHP's built-in web server:
//
//     php -S 127.0.0.1:8000 router.php
//
// POST /webhook → webhook.php (point tether's -webhook-url here)
// GET  /healthz → "ok" (for scripts waiting for the server to start)
//
// Behind nginx/Apache with php-fpm you would not need this file: expose
// webhook.php at the URL you give tether.

declare(strict_types=1);

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);

switch ($path) {
    case '/webhook':
        require __DIR__ . '/webhook.php';
        break;
    case '/healthz':
        header('Content-Type: text/plain');
        echo "ok\n";
        break;
    default:
        http_response_code(404);
        header('Content-Type: application/json');
        echo json_encode(['error' => 'not found']);
}
