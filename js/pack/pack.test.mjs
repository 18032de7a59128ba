// The package as npm publishes it: `npm pack`, installed into a fresh
// scratch project (offline: it has no dependencies), must type-check a
// TypeScript consumer against its published types (with Node's and with a
// bundler's module resolution) and run under Node. Run by `npm test`,
// after the build.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const JS = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSC = createRequire(join(JS, 'package.json')).resolve('typescript/bin/tsc');
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const pkg = JSON.parse(readFileSync(join(JS, 'package.json'), 'utf8'));

let dir;
let packed;

function run(cmd, args, cwd) {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tether-pack-'));
  [packed] = JSON.parse(run(NPM, ['pack', '--json', '--pack-destination', dir], JS));
  const app = join(dir, 'app');
  execFileSync('mkdir', [app]);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'scratch', private: true, type: 'module' }));
  run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', join(dir, packed.filename)], app);
  copyFileSync(join(JS, 'pack/consumer.ts'), join(app, 'consumer.ts'));
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('the tarball holds the built client, its types and the bundle, and nothing else', () => {
  assert.equal(packed.name, '@tether-ws/client');
  assert.equal(packed.version, pkg.version);
  const files = packed.files.map((f) => f.path).sort();
  for (const want of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/client.d.ts', 'dist/tether.js', 'dist/tether.js.map']) {
    assert.ok(files.includes(want), `${want} is missing from ${JSON.stringify(files)}`);
  }
  const stray = files.filter((f) => !/^(package\.json|README\.md|LICENSE|dist\/[\w.-]+\.(js|d\.ts|js\.map))$/.test(f));
  assert.deepEqual(stray, [], 'files that do not belong in the package');
});

/** A strict tsconfig for the scratch project, with this module resolution. */
function tsconfig(file, module, moduleResolution, emit) {
  writeFileSync(join(dir, 'app', file), JSON.stringify({
    compilerOptions: {
      strict: true, target: 'es2022', lib: ['es2022', 'dom'], types: [], skipLibCheck: false,
      module, moduleResolution, ...(emit ? { outDir: 'out' } : { noEmit: true }),
    },
    files: ['consumer.ts'],
  }));
  return file;
}

function tsc(project) {
  try {
    run(process.execPath, [TSC, '-p', project], join(dir, 'app'));
  } catch (e) {
    assert.fail(`tsc -p ${project} failed:\n${e.stdout}${e.stderr}`);
  }
}

for (const [module, resolution] of [['es2022', 'bundler']]) {
  test(`a TypeScript consumer type-checks against the published types (moduleResolution ${resolution})`, () => {
    tsc(tsconfig(`tsconfig.${resolution}.json`, module, resolution, false));
  });
}

test('a TypeScript consumer type-checks (moduleResolution nodenext), compiles, and runs under Node: it imports the package and opens a connection', async () => {
  const app = join(dir, 'app');
  tsc(tsconfig('tsconfig.json', 'nodenext', 'nodenext', true));
  const { run: consume } = await import(pathToFileURL(join(app, 'out/consumer.js')).href);
  const got = await consume();
  assert.equal(got.status, 'connecting');
  assert.equal(got.subprotocol, 'tether.v1');
  assert.equal(got.forbidden, 'forbidden');
  assert.equal(got.errorIsError, true);
  assert.ok(got.opened.length >= 1, 'the client opened a WebSocket');
  assert.match(got.opened[0].url, /^ws:\/\/127\.0\.0\.1:1\/ws/);
  assert.deepEqual([got.opened[0].protocols].flat(), ['tether.v1']);
  assert.ok(['closed', 'unacknowledged'].includes(got.closed), `close(): ${got.closed}`);
});
