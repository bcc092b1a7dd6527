/**
 * `cretoai-node validators`: an operator builds a request, signs it with the operator key `init`
 * wrote, and checks it as a node will, with every refusal a sentence that names its code.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { clusterDir, tempDir } from '../node/support.ts';
import { runCli } from './support.ts';

const SUBCOMMANDS = ['propose-add', 'propose-remove', 'replace', 'rotate-key', 'sign', 'check', 'submit'];

describe('cretoai-node validators', { timeout: 180_000 }, () => {
  it('lists its subcommands, each with its own help and --json', async () => {
    const top = await runCli(['validators', '--help']);
    assert.equal(top.code, 0);
    for (const command of SUBCOMMANDS) assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'), command);
    const helps = await Promise.all(SUBCOMMANDS.map((command) => runCli(['validators', command, '--help'])));
    for (const [i, help] of helps.entries()) {
      assert.equal(help.code, 0, SUBCOMMANDS[i]);
      assert.match(help.stdout, new RegExp(`^Usage: cretoai-node validators ${SUBCOMMANDS[i]} `, 'm'));
      assert.match(help.stdout, /^ {2}--json\b/m, SUBCOMMANDS[i]);
    }
  });

  it('proposes, signs and checks a change; refuses an unsigned request, a validator key and a signed request to extend', async (t) => {
    const cluster = await clusterDir(t, 4);
    const dir = tempDir(t);
    const clusterFile = cluster.clusterFile;
    assert.equal(fs.statSync(cluster.operatorKeyFile).mode & 0o777, 0o600);
    assert.equal(JSON.parse(fs.readFileSync(clusterFile, 'utf8')).operators.threshold, 1);

    // Three new machines' keys.
    const publicKeys = [4, 5, 6].map((i) => path.join(dir, `node-${i}.pub.pem`));
    for (const [i, file] of publicKeys.entries()) {
      const made = await runCli([
        'keygen',
        '--out',
        path.join(dir, `node-${i + 4}.key.pem`),
        '--public-out',
        file,
      ]);
      assert.equal(made.code, 0, made.stderr);
    }
    const request = path.join(dir, 'grow.json');
    const add = (i: number, extend: boolean) =>
      runCli([
        'validators',
        'propose-add',
        '--cluster',
        clusterFile,
        '--node-id',
        `node-${i}`,
        '--public-key',
        publicKeys[i - 4]!,
        '--address',
        `127.0.0.1:${7200 + i}`,
        ...(extend ? ['--request', request] : []),
        '--out',
        request,
        '--json',
      ]);
    assert.equal((await add(4, false)).code, 0);
    assert.equal((await add(5, true)).code, 0);
    const grown = await add(6, true);
    assert.equal(grown.code, 0, grown.stderr);
    assert.deepEqual(JSON.parse(grown.stdout).nextValidators, [
      'node-0',
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
      'node-6',
    ]);

    const check = () => runCli(['validators', 'check', '--request', request, '--cluster', clusterFile]);
    const unsigned = await check();
    assert.equal(unsigned.code, 1);
    assert.match(unsigned.stderr, /0 of the 1 operator signatures epoch 0 needs \(threshold\)/);

    const byValidator = await runCli([
      'validators',
      'sign',
      '--request',
      request,
      '--key',
      path.join(cluster.dir, 'keys', 'node-0.key.pem'),
      '--cluster',
      clusterFile,
    ]);
    assert.equal(byValidator.code, 1);
    assert.match(byValidator.stderr, /not one of the operator keys of epoch 0.*\(signatures\)/);

    const signed = await runCli([
      'validators',
      'sign',
      '--request',
      request,
      '--key',
      cluster.operatorKeyFile,
      '--cluster',
      clusterFile,
    ]);
    assert.equal(signed.code, 0, signed.stderr);
    const valid = await check();
    assert.equal(valid.code, 0, valid.stderr);
    assert.match(valid.stdout, /takes effect on epoch 0: add node-4; add node-5; add node-6; .*\(n = 7\)/);
    assert.match(valid.stdout, /signed by operators 0 \(1 needed\)/);

    // A signature covers every operation: a signed request cannot take one more.
    const extendSigned = await runCli([
      'validators',
      'propose-remove',
      '--cluster',
      clusterFile,
      '--node-id',
      'node-0',
      '--request',
      request,
      '--out',
      path.join(dir, 'more.json'),
    ]);
    assert.equal(extendSigned.code, 1);
    assert.match(extendSigned.stderr, /is signed already/);

    // Edited after signing: the signature no longer verifies.
    const text = fs.readFileSync(request, 'utf8');
    fs.writeFileSync(request, text.replaceAll('127.0.0.1:7206', '127.0.0.1:7306'));
    const edited = await check();
    assert.equal(edited.code, 1);
    assert.match(edited.stderr, /does not verify.*\(signatures\)/);

    // Shrinking below four validators is refused when the request is built.
    const tooSmall = await runCli([
      'validators',
      'propose-remove',
      '--cluster',
      clusterFile,
      '--node-id',
      'node-2',
      '--out',
      path.join(dir, 'small.json'),
    ]);
    assert.equal(tooSmall.code, 1);
    assert.match(tooSmall.stderr, /has 3 validators; an epoch needs at least 4 .*\(malformed\)/);
    assert.equal(fs.existsSync(path.join(dir, 'small.json')), false);
  });
});
