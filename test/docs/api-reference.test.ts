/**
 * `npm run docs` builds the API reference from the TSDoc of the two package entry points
 * (`src/index.ts`, `src/client/index.ts`) and fails on an exported symbol without a doc comment
 * (TypeDoc's `validation.notDocumented` with `treatValidationWarningsAsErrors`, configured in
 * `tools/api-docs/typedoc.json`). Here it writes to a temporary directory, so that a reference a
 * developer built in `docs/api/` is left alone.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

const root = path.join(import.meta.dirname, '../..');

test('npm run docs: the API reference builds with every export documented', {
  timeout: 180_000,
}, async (t) => {
  const typedoc = path.join(root, 'tools/api-docs/node_modules/typedoc/bin/typedoc');
  assert.ok(
    fs.existsSync(typedoc),
    'TypeDoc is missing: run `npm ci` (it installs the tools/api-docs workspace)',
  );
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-api-docs-'));
  t.after(() => fs.rmSync(out, { recursive: true, force: true }));
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const run = await new Promise<{ code: number | null; output: string }>((resolve, reject) => {
    const child = spawn(npm, ['run', '--silent', 'docs', '--', '--out', out], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
  assert.equal(run.code, 0, run.output);
  assert.doesNotMatch(run.output, /warning|error/i, run.output);
  // Both entry points are in it, with the engine and the client.
  assert.ok(fs.existsSync(path.join(out, 'index.html')));
  const classes = fs.readdirSync(path.join(out, 'classes'));
  assert.ok(
    classes.some((file) => /BftEngine\.html$/.test(file)),
    classes.join(' '),
  );
  assert.ok(
    classes.some((file) => /BftClient\.html$/.test(file)),
    classes.join(' '),
  );
});
