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
