/**
 * The command line: help for every command, errors in plain words with a non-zero exit status
 * (and as JSON with --json), key generation, init's warning for a cluster that tolerates no
 * fault, status with a node down, and evidence checked with the cluster's public keys.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { evidenceToJson } from '../../src/client/evidence.ts';
import { importPrivateKeyPem, mlDsa87 } from '../../src/crypto/index.ts';
import type { Commit, Draft } from '../../src/protocol/index.ts';
import { signDraft } from '../../src/shell/signing.ts';
import { clusterDir, startNode, tempDir } from '../node/support.ts';
import { runCli } from './support.ts';

const COMMANDS = [
  'keygen',
  'init',
  'start',
  'up',
  'status',
  'submit',
  'bench',
  'backup',
  'restore',
  'wipe',
  'verify-store',
  'verify-evidence',
];

describe('cretoai-node help', { timeout: 180_000 }, () => {
  it('--help lists every command, and every command has its own help', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.code, 0);
    for (const command of COMMANDS) assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'), command);
    const helps = await Promise.all(COMMANDS.map((command) => runCli([command, '--help'])));
    for (const [i, help] of helps.entries()) {
      assert.equal(help.code, 0, COMMANDS[i]);
      assert.match(help.stdout, new RegExp(`^Usage: cretoai-node ${COMMANDS[i]} `, 'm'));
      assert.match(help.stdout, /^Options:/m);
    }
    // Every command that prints a result can print it as JSON.
    for (const [i, command] of COMMANDS.entries()) {
      if (command === 'start' || command === 'up') continue;
      assert.match(helps[i]!.stdout, /^ {2}--json\b/m, command);
    }
  });
});

describe('cretoai-node errors', { timeout: 180_000 }, () => {
  it('a bad option, an unknown command, a missing file or an unreachable node: a sentence and a non-zero exit', async (t) => {
    const dir = tempDir(t);
    const cases: [readonly string[], RegExp][] = [
      [['init', '--nodes', '0', '--dir', dir], /--nodes.*must be a whole number from 1 to 100/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['start'], /required option '--config <file>' not specified/],
      [
        ['start', '--config', path.join(dir, 'none.json')],
        /node config .*none\.json: cannot be read \(ENOENT\)/,
      ],
      [['status'], /say which nodes to ask: --cluster <cluster\.json> or --url/],
      [['status', '--url', 'http://127.0.0.1:9'], /unreachable/],
      [['submit', '--url', 'http://127.0.0.1:9'], /give the payload with exactly one of --data/],
      [
        ['submit', '--url', 'http://127.0.0.1:9', '--data', 'x'],
        /did not answer (GET \/v1\/status|POST \/v1\/vertices)/,
      ],
      [['bench', '--rate', 'fast'], /--rate.*vertices per second/],
      [
        ['verify-evidence', '--cluster', path.join(dir, 'nope.json'), '--file', 'x'],
        /cluster file .*nope\.json: cannot be read/,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    for (const [i, run] of runs.entries()) {
      const [args, pattern] = cases[i]!;
      assert.notEqual(run.code, 0, args.join(' '));
      assert.match(run.stdout + run.stderr, pattern, args.join(' '));
      assert.doesNotMatch(run.stderr, /\n\s+at /, `no stack trace for ${args.join(' ')}`);
    }
  });

  it('with --json a failure is JSON on stdout too, with the same exit status', async (t) => {
    const cluster = await clusterDir(t, 1);
    const wipe = await runCli(['wipe', '--config', cluster.configFiles[0]!, '--json']);
    assert.equal(wipe.code, 1);
    assert.match(wipe.stderr, /pass --yes/);
    const { error } = JSON.parse(wipe.stdout);
    assert.equal(error.exitCode, 1);
    assert.match(error.message, /pass --yes/);
  });

  it('init warns that 1 to 3 nodes tolerate no fault, and says nothing for 4', async (t) => {
    const dir = tempDir(t);
    const three = await runCli(['init', '--nodes', '3', '--dir', path.join(dir, 'three'), '--json']);
    assert.equal(three.code, 0, three.stderr);
    assert.match(
      three.stderr,
      /^warning: a cluster of 3 nodes tolerates no faulty node .*one node down stops it/m,
    );
    const created = JSON.parse(three.stdout);
    assert.equal(created.faultTolerance, 0);
    assert.equal(created.nodes.length, 3);
    assert.equal(created.warnings.length, 1);
    assert.equal(loadClusterFile(created.clusterFile).validators.length, 3);
    const one = await runCli(['init', '--nodes', '1', '--dir', path.join(dir, 'one')]);
    assert.match(one.stderr, /^warning: a cluster of 1 node tolerates no faulty node/m);
    const four = await runCli(['init', '--nodes', '4', '--dir', path.join(dir, 'four')]);
    assert.equal(four.code, 0, four.stderr);
    assert.doesNotMatch(four.stderr, /warning/);
  });

  it('status with a node down: a row for it in the table, the reason below, exit status 1', async (t) => {
    const cluster = await clusterDir(t, 4);
    await Promise.all([0, 1, 2].map((index) => startNode(t, cluster, index)));
    const status = await runCli(['status', '--cluster', cluster.clusterFile]);
    assert.equal(status.code, 1, status.stderr);
    const [header, ...rows] = status.stdout.trimEnd().split('\n');
    const columns = header!.split(/\s{2,}/);
    assert.equal(rows.length, 4);
    for (const row of rows) assert.equal(row.split(/\s{2,}/).length, columns.length, row);
    const down = rows.find((row) => row.startsWith('node-3'))!;
    assert.match(down, /^node-3\s+unreachable(\s+-){9}$/);
    assert.equal(columns[2], 'epoch');
    for (const row of rows.filter((row) => row !== down)) assert.equal(row.split(/\s{2,}/)[2], '0', row);
    // The columns line up: every cell starts where its header does.
    const at = columns.map((title) => header!.indexOf(title));
    for (const row of rows) for (const start of at.slice(1)) assert.equal(row[start - 1], ' ', row);
    assert.match(status.stderr, /^node-3: http:\/\/\S+ did not answer GET \/v1\/status/m);
    const json = await runCli(['status', '--cluster', cluster.clusterFile, '--json']);
    assert.equal(json.code, 1);
    const answers = JSON.parse(json.stdout);
    assert.equal(answers[3].nodeId, 'node-3');
    assert.match(answers[3].error, /did not answer/);
    assert.equal(answers[0].state, 'running');
  });

  it('wipe asks for --yes, and init refuses a directory that holds a cluster', async (t) => {
    const cluster = await clusterDir(t, 1);
    const wipe = await runCli(['wipe', '--config', cluster.configFiles[0]!]);
    assert.equal(wipe.code, 1);
    assert.match(wipe.stderr, /pass --yes/);
    const init = await runCli(['init', '--nodes', '1', '--dir', cluster.dir]);
    assert.equal(init.code, 1);
    assert.match(init.stderr, /already holds a cluster/);
  });

  it('init --transport quic writes node configurations that use QUIC', async (t) => {
    const dir = path.join(tempDir(t), 'quic-cluster');
    const init = await runCli(['init', '--nodes', '2', '--dir', dir, '--transport', 'quic']);
    assert.equal(init.code, 0, init.stderr);
    for (const node of ['node-0', 'node-1']) {
      const config = JSON.parse(fs.readFileSync(path.join(dir, `${node}.json`), 'utf8'));
      assert.deepEqual(config.transport, { protocol: 'quic' }, node);
    }
  });
});

describe('cretoai-node keygen and verify-evidence', { timeout: 180_000 }, () => {
  it('keygen writes a private key only its owner reads, prints the public key, and never overwrites a key', async (t) => {
    const file = path.join(tempDir(t), 'node.key.pem');
    const first = await runCli(['keygen', '--out', file]);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const keys = importPrivateKeyPem(fs.readFileSync(file, 'utf8'));
    assert.match(first.stdout, /^-----BEGIN PUBLIC KEY-----/);
    const asJson = await runCli(['keygen', '--out', `${file}.2`, '--json']);
    assert.equal(asJson.code, 0, asJson.stderr);
    const generated = JSON.parse(asJson.stdout);
    assert.equal(generated.privateKeyFile, `${file}.2`);
    assert.match(generated.publicKey, /^-----BEGIN PUBLIC KEY-----/);
    const { parsePublicKey } = await import('../../src/client/cluster-file.ts');
    assert.deepEqual(parsePublicKey(first.stdout).raw, keys.publicKey.raw);
    const again = await runCli(['keygen', '--out', file]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /never overwritten/);
  });

  it('keygen --force over a key file others could read leaves it owner-only', async (t) => {
    const file = path.join(tempDir(t), 'node.key.pem');
    fs.writeFileSync(file, 'an old key');
    fs.chmodSync(file, 0o644);
    const run = await runCli(['keygen', '--out', file, '--force']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    importPrivateKeyPem(fs.readFileSync(file, 'utf8'));
  });

  it('start and verify-store refuse a key file others can read, naming the file, its mode and chmod 600', async (t) => {
    const cluster = await clusterDir(t, 1);
    const keyFile = path.join(cluster.dir, 'keys', 'node-0.key.pem');
    fs.chmodSync(keyFile, 0o640);
    const runs = await Promise.all(
      ['start', 'verify-store'].map((command) => runCli([command, '--config', cluster.configFiles[0]!])),
    );
    for (const run of runs) {
      assert.equal(run.code, 1, run.stderr);
      assert.ok(run.stderr.includes(`${keyFile} has mode 0640`), run.stderr);
      assert.ok(run.stderr.includes(`chmod 600 ${keyFile}`), run.stderr);
    }
  });

  it('verify-evidence accepts two conflicting COMMITs signed by one validator and refuses a tampered copy', async (t) => {
    const cluster = await clusterDir(t, 4);
    const clusterId = loadClusterFile(cluster.clusterFile).clusterId;
    const keys = importPrivateKeyPem(
      fs.readFileSync(path.join(cluster.dir, 'keys', 'node-2.key.pem'), 'utf8'),
    );
    const identity = { scheme: mlDsa87, privateKey: keys.privateKey, clusterId };
    const commit = (digestByte: number) =>
      signDraft(identity, {
        kind: 'commit',
        epoch: 0,
        view: 3,
        sequence: 41,
        digest: new Uint8Array(32).fill(digestByte),
        replica: 2,
      } as Draft<Commit>) as Commit;
    const evidence = evidenceToJson(
      { kind: 'equivocation', replica: 2, first: commit(1), second: commit(2) },
      clusterId,
      cluster.nodeIds,
    );
    const dir = tempDir(t);
    const valid = path.join(dir, 'valid.json');
    fs.writeFileSync(valid, JSON.stringify({ evidence: [evidence] }));
    const accepted = await runCli(['verify-evidence', '--cluster', cluster.clusterFile, '--file', valid]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(
      accepted.stdout,
      /#0: valid: node-2 signed two different messages for one slot: COMMIT for view 3, sequence 41/,
    );

    // The same message twice is no conflict; another validator's name does not make it theirs.
    const tampered = path.join(dir, 'tampered.json');
    fs.writeFileSync(
      tampered,
      JSON.stringify([
        { ...evidence, second: (evidence as { first: string }).first },
        { ...evidence, replica: 1 },
      ]),
    );
    const refused = await runCli(['verify-evidence', '--cluster', cluster.clusterFile, '--file', tampered]);
    assert.equal(refused.code, 1);
    assert.match(refused.stdout, /#0: NOT valid/);
    assert.match(refused.stdout, /#1: NOT valid/);
    const asJson = await runCli([
      'verify-evidence',
      '--cluster',
      cluster.clusterFile,
      '--file',
      tampered,
      '--json',
    ]);
    assert.equal(asJson.code, 1);
    const checked = JSON.parse(asJson.stdout);
    assert.equal(checked.checked, 2);
    assert.equal(checked.invalid, 2);
    assert.deepEqual(
      checked.items.map((item: { valid: boolean }) => item.valid),
      [false, false],
    );
    const validJson = await runCli([
      'verify-evidence',
      '--cluster',
      cluster.clusterFile,
      '--file',
      valid,
      '--json',
    ]);
    assert.equal(validJson.code, 0);
    assert.match(JSON.parse(validJson.stdout).items[0].description, /node-2 signed two different messages/);
  });
});
