#!/usr/bin/env bash
# Prints, one per line, the Debian packages the PHP SDK's tests (sdk/php)
# still need on this machine; prints nothing when all are there. It checks
# what the tests use (the php and phpunit commands, the curl extension as
# PHP loads it, Nyholm's PSR-7 autoloader), not what dpkg says, so that
# .ci/run installs and scripts/test.sh requires exactly the same things.
command -v php >/dev/null 2>&1 || echo php-cli
command -v phpunit >/dev/null 2>&1 || echo phpunit
if ! command -v php >/dev/null 2>&1 || ! php -r 'exit(extension_loaded("curl") ? 0 : 1);' >/dev/null 2>&1; then
	echo php-curl
fi
[ -f /usr/share/php/Nyholm/Psr7/autoload.php ] || echo php-nyholm-psr7
exit 0
