import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as client from '../../src/client/index.ts';
import * as library from '../../src/index.ts';

/** Every exported class whose instances are Errors, by export name. */
function errorClasses(module: Record<string, unknown>): [string, abstract new (...args: never) => Error][] {
  return Object.entries(module).filter(
    (entry): entry is [string, abstract new (...args: never) => Error] =>
      typeof entry[1] === 'function' && entry[1].prototype instanceof Error,
  );
}

test('every error class the library and the client export extends CretoaiError', () => {
  const classes = [...errorClasses(library), ...errorClasses(client)];
  assert.ok(classes.length >= 12, `found ${classes.length} error classes`);
  const outside = classes
    .filter(([name, type]) => name !== 'CretoaiError' && !(type.prototype instanceof library.CretoaiError))
    .map(([name]) => name);
  assert.deepEqual(outside, []);
  assert.equal(client.CretoaiError, library.CretoaiError, 'one base, whichever entry point it came from');
});

test('a CretoaiError carries a stable string code, whether fixed or chosen per throw', () => {
  const config = new library.ConfigError('pipelineDepth', 'must be positive');
  assert.ok(config instanceof library.CretoaiError);
  assert.equal(config.code, 'config');
  assert.equal(config.name, 'ConfigError');
  const rejected = new library.ProposalRejectedError('expired', 'too late');
  assert.equal(rejected.code, 'expired');
  assert.ok(rejected instanceof library.CretoaiError);
  assert.equal(new client.ClusterFileError('c.json', 'validators', 'is empty').code, 'cluster-file');
});

test('a bad argument to the public API is an ArgumentError or a ConfigError, never a bare RangeError', async () => {
  const cluster = await library.createLocalCluster({ nodes: 1 });
  try {
    const engine = cluster.engines[0]!;
    assert.throws(() => cluster.engine('node-9'), library.ArgumentError);
    assert.throws(() => engine.finalized({ from: 0 }), library.ArgumentError);
    assert.throws(() => engine.createVertex(new Uint8Array(1), [new Uint8Array(3)]), library.ArgumentError);
    assert.throws(() => engine.registerNodePublicKey('node-9', new Uint8Array(2592)), library.ArgumentError);
  } finally {
    await cluster.stop();
  }
  await assert.rejects(library.createLocalCluster({ nodes: 0 }), library.ArgumentError);
  const error = new library.ArgumentError('nodes must be positive');
  assert.equal(error.code, 'invalid-argument');
  assert.ok(error instanceof library.CretoaiError);
});

test('the source throws no bare RangeError or TypeError: every deliberate error has a code', async () => {
  const { readdir, readFile } = await import('node:fs/promises');
  const files = (await readdir(new URL('../../src/', import.meta.url), { recursive: true })).filter((file) =>
    file.endsWith('.ts'),
  );
  const offenders: string[] = [];
  for (const file of files) {
    const text = await readFile(new URL(`../../src/${file}`, import.meta.url), 'utf8');
    if (/new (RangeError|TypeError)\(/.test(text)) offenders.push(file);
  }
  assert.ok(files.length > 100, `read ${files.length} files`);
  assert.deepEqual(offenders, []);
});
