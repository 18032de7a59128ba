<?php

declare(strict_types=1);

namespace Tether\Tests;

use PHPUnit\Framework\TestCase;

/** The PHP blocks of README.md (Swoole, Laravel, …) are valid PHP. */
final class ReadmeTest extends TestCase
{
    public function testEveryPhpBlockIsValidPhp(): void
    {
        preg_match_all('/```php\n(.*?)```/s', (string) file_get_contents(__DIR__ . '/../README.md'), $m);
        $this->assertGreaterThanOrEqual(5, count($m[1]), 'the README has its PHP examples');
        $swoole = $laravel = false;
        foreach ($m[1] as $i => $code) {
            $swoole = $swoole || str_contains($code, 'Swoole\\Http');
            $laravel = $laravel || str_contains($code, 'Illuminate\\Http');
            $file = tempnam(sys_get_temp_dir(), 'readme-') . '.php';
            file_put_contents($file, str_starts_with($code, '<?php') ? $code : "<?php\n" . $code);
            exec(escapeshellarg(PHP_BINARY) . ' -l ' . escapeshellarg($file) . ' 2>&1', $out, $status);
            unlink($file);
            $this->assertSame(0, $status, "README block $i:\n$code\n" . implode("\n", $out));
        }
        $this->assertTrue($swoole && $laravel, 'the Swoole and Laravel examples are there');
    }
}
