'use strict';
// index.d.ts of the PACKED package, checked by `tsc --noEmit` (strict, skipLibCheck off) with the
// official wx typings (miniprogram-api-typings) against tests/types/consumer.ts, which uses
// every export in callback and promise style, under each module resolution a project may
// use: bundler (Vite, webpack), node16 from an ES module and from a CommonJS module, and the
// classic node10 + CommonJS without esModuleInterop (where `import wafer from` reads `.default`).

const { describe, test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');

const { packageDir } = require('./helpers/sdk');

const ROOT = path.resolve(__dirname, '..', '..');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const TYPES = path.join(ROOT, 'tests', 'types');

const MODES = {
  bundler: { files: ['consumer.ts'], options: { module: 'esnext', moduleResolution: 'bundler' } },
  'node16 (ES module)': { files: ['consumer.mts'], options: { module: 'node16', moduleResolution: 'node16' } },
  'node16 (CommonJS)': { files: ['consumer.cts'], options: { module: 'node16', moduleResolution: 'node16' } },
  'node10, CommonJS, no esModuleInterop': {
    files: ['consumer.ts', 'plugins.ts'],
    options: { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: false },
  },
};

function tsc(project) {
  return new Promise((resolve) => {
    execFile(process.execPath, [TSC, '-p', project], { cwd: path.dirname(project) }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, output: `${stdout}${stderr}` });
    });
  });
}

describe('index.d.ts type-checks a consumer of every export', () => {
  let dir;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wafer-typings-'));
    fs.cpSync(packageDir(), path.join(dir, 'node_modules', 'wafer-wasm'), { recursive: true });
    const consumer = fs.readFileSync(path.join(TYPES, 'consumer.ts'), 'utf8');
    for (const name of ['consumer.ts', 'consumer.mts', 'consumer.cts']) fs.writeFileSync(path.join(dir, name), consumer);
    fs.copyFileSync(path.join(TYPES, 'plugins.ts'), path.join(dir, 'plugins.ts'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the typings ship with the package and declare a default export', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(packageDir(), 'package.json'), 'utf8'));
    assert.equal(pkg.types, 'index.d.ts');
    assert.equal(pkg.exports['.'].types, './index.d.ts');
    assert.match(fs.readFileSync(path.join(packageDir(), 'index.d.ts'), 'utf8'), /^export default \w+;$/m);
  });

  for (const [mode, { files, options }] of Object.entries(MODES)) {
    test(`tsc --noEmit: ${mode}`, async () => {
      const project = path.join(dir, `tsconfig.${mode.replace(/\W+/g, '-')}.json`);
      fs.writeFileSync(project, JSON.stringify({
        compilerOptions: Object.assign({
          target: 'es2017',
          lib: ['es2017'], // a mini-program has no DOM
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          typeRoots: [path.join(ROOT, 'node_modules')],
          types: ['miniprogram-api-typings'],
        }, options),
        files,
      }, null, 2));
      const res = await tsc(project);
      assert.equal(res.code, 0, `tsc reported:\n${res.output}`);
    });
  }

  test('tsc fails on a misuse (the check is not vacuous)', async () => {
    fs.writeFileSync(path.join(dir, 'misuse.ts'), "import wafer from 'wafer-wasm';\nwafer.request({ login: true });\nwafer.noSuchExport();\n");
    const project = path.join(dir, 'tsconfig.misuse.json');
    fs.writeFileSync(project, JSON.stringify({
      compilerOptions: { strict: true, noEmit: true, module: 'esnext', moduleResolution: 'bundler', lib: ['es2017'] },
      files: ['misuse.ts'],
    }));
    const res = await tsc(project);
    assert.notEqual(res.code, 0);
    assert.match(res.output, /misuse\.ts\(2,\d+\): error TS2769: No overload matches this call/);
    assert.match(res.output, /misuse\.ts\(3,\d+\): error TS2339: Property 'noSuchExport'/);
  });
});
