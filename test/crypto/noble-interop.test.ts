// FIPS 204 interoperability: our ML-DSA-87 (OpenSSL 3.5 through node:crypto) against the
// independent pure-JavaScript implementation in @noble/post-quantum. Agreement on public keys
// from the same seed and on signatures with a context means both follow the standard, not
// merely each other.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import { mlDsa87 } from '../../src/crypto/index.ts';

const encoder = new TextEncoder();
const message = encoder.encode('commit v=7 s=1001 digest=...');
const context = encoder.encode('cretoai/cluster-a/commit');
const wrongContext = encoder.encode('cretoai/cluster-a/prepare');

const seeds = [
  new Uint8Array(32),
  new Uint8Array(32).fill(0xff),
  Uint8Array.from({ length: 32 }, (_, i) => i),
];

describe('FIPS 204 interop with @noble/post-quantum', () => {
  test('the same 32-byte seed gives byte-identical public keys in both', () => {
    for (const seed of [...seeds, randomBytes(32), randomBytes(32)]) {
      const ours = mlDsa87.keyPairFromSeed(seed);
      const theirs = ml_dsa87.keygen(seed);
      assert.equal(theirs.publicKey.length, 2592);
      assert.deepEqual(ours.publicKey.raw, Uint8Array.from(theirs.publicKey));
    }
  });

  test('a signature made by mlDsa87 with a context verifies in noble with that context only', () => {
    const seed = randomBytes(32);
    const ours = mlDsa87.keyPairFromSeed(seed);
    const signature = mlDsa87.sign(ours.privateKey, message, context);
    const publicKey = ml_dsa87.keygen(seed).publicKey;
    assert.equal(ml_dsa87.verify(signature, message, publicKey, { context }), true);
    assert.equal(ml_dsa87.verify(signature, message, publicKey, { context: wrongContext }), false);
    assert.equal(ml_dsa87.verify(signature, message, publicKey), false);
  });

  test('a signature made by noble with a context verifies in mlDsa87 with that context only', () => {
    const seed = randomBytes(32);
    const { secretKey } = ml_dsa87.keygen(seed);
    const signature = ml_dsa87.sign(message, secretKey, { context });
    assert.equal(signature.length, 4627);
    const ours = mlDsa87.keyPairFromSeed(seed).publicKey;
    assert.equal(mlDsa87.verify(ours, message, signature, context), true);
    assert.equal(mlDsa87.verify(ours, message, signature, wrongContext), false);
    assert.equal(mlDsa87.verify(ours, message, signature, new Uint8Array(0)), false);
  });

  test('an empty context in mlDsa87 is the same as no context in noble, both ways', () => {
    const seed = seeds[2]!;
    const ours = mlDsa87.keyPairFromSeed(seed);
    const theirs = ml_dsa87.keygen(seed);
    const empty = new Uint8Array(0);
    assert.ok(ml_dsa87.verify(mlDsa87.sign(ours.privateKey, message, empty), message, theirs.publicKey));
    assert.ok(mlDsa87.verify(ours.publicKey, message, ml_dsa87.sign(message, theirs.secretKey), empty));
  });

  test('a signature verified asynchronously in mlDsa87 agrees with noble', async () => {
    const seed = randomBytes(32);
    const { secretKey } = ml_dsa87.keygen(seed);
    const signature = ml_dsa87.sign(message, secretKey, { context });
    const ours = mlDsa87.keyPairFromSeed(seed).publicKey;
    assert.equal(await mlDsa87.verifyAsync(ours, message, signature, context), true);
    assert.equal(await mlDsa87.verifyAsync(ours, message, signature, wrongContext), false);
  });
});
