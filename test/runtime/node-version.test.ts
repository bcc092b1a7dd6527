/**
 * The package refuses a Node older than 24 in one sentence, at import of either entry point and
 * from the `cretoai-node` command, rather than with a link error or a crypto error later. The
 * check is one module (`src/runtime/require-node.js`) that all three load first.
 *
 * The end-to-end cases need a Node older than 24: `OLD_NODE=/path/to/node`, or the first `node`
 * on PATH older than 24 (npm puts the project's pinned Node 24 first; the system's may be older).
 * Without one they are skipped with that reason.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { NODE_MAJOR_REQUIRED, nodeVersionProblem } from '../../src/runtime/require-node.js';

const root = path.join(import.meta.dirname, '../..');

function majorOf(node: string): number | null {
  const run = spawnSync(node, ['--version'], { encoding: 'utf8' });
  const match = /^v(\d+)\./.exec(run.stdout ?? '');
  return run.status === 0 && match !== null ? Number(match[1]) : null;
}

/** A Node binary older than 24, or null. */
function oldNode(): string | null {
  const candidates = [
    ...(process.env.OLD_NODE === undefined ? [] : [process.env.OLD_NODE]),
    ...(process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, 'node')),
  ];
  for (const candidate of candidates) {
    if (!fs.existsSync(candidate)) continue;
    const major = majorOf(candidate);
    if (major !== null && major < NODE_MAJOR_REQUIRED) return candidate;
  }
  return null;
}

const OLD_NODE = oldNode();
const skip = OLD_NODE === null ? 'no Node older than 24 on PATH (set OLD_NODE to one)' : false;

describe('the Node version check', () => {
  test('a version below 24 gets one sentence naming both versions; 24 and later pass', () => {
    const problem = nodeVersionProblem('20.20.2');
    assert.equal(
      problem,
      'cretoai-consensus needs Node 24 or later (ML-DSA-87 comes from its OpenSSL 3.5); this is Node 20.20.2.',
    );
    assert.notEqual(nodeVersionProblem('23.11.0'), null);
    assert.notEqual(nodeVersionProblem('not a version'), null);
    assert.equal(nodeVersionProblem('24.0.0'), null);
    assert.equal(nodeVersionProblem('25.2.1'), null);
    assert.equal(nodeVersionProblem(process.versions.node), null, 'the suite runs on a Node it accepts');
  });

  describe(`on an older Node (${OLD_NODE ?? 'none found'})`, { skip, timeout: 60_000 }, () => {
    test('the built library and its client entry refuse at import with the sentence', (t) => {
      // The built package, as users get it: dist/ from `npm run build`, into a temporary copy.
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-dist-'));
      t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
      const out = path.join(dir, 'dist');
      const build = spawnSync(process.execPath, [path.join(root, 'scripts/build.ts'), '--out-dir', out], {
        encoding: 'utf8',
      });
      assert.equal(build.status, 0, build.stderr + build.stdout);
      fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module" }\n');
      fs.symlinkSync(path.join(root, 'node_modules'), path.join(dir, 'node_modules'));
      for (const entry of ['index.js', 'client/index.js']) {
        const run = spawnSync(
          OLD_NODE!,
          [
            '--input-type=module',
            '-e',
            `import(${JSON.stringify(path.join(out, entry))}).then(
               () => { console.log('loaded'); process.exit(0); },
               (error) => { console.log(error.code + ': ' + error.message); process.exit(1); })`,
          ],
          { encoding: 'utf8' },
        );
        assert.equal(run.status, 1, `${entry}: ${run.stdout}${run.stderr}`);
        assert.match(
          run.stdout,
          /^ERR_CRETOAI_NODE_VERSION: cretoai-consensus needs Node 24 or later .*; this is Node \d+\.\d+\.\d+\.$/m,
          entry,
        );
      }
    });

    test('cretoai-node says it in one sentence and exits 1, without a stack trace', () => {
      const run = spawnSync(OLD_NODE!, [path.join(root, 'bin/cretoai-node.js'), '--help'], {
        encoding: 'utf8',
      });
      assert.equal(run.status, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, /^cretoai-node: cretoai-consensus needs Node 24 or later .*Install Node 24/);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
    });
  });
});
