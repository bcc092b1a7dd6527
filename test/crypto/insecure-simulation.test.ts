import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  exportPrivateKeyPem,
  exportPublicKeyPem,
  insecureSimulationScheme as insecure,
  mlDsa87,
  sha256,
} from '../../src/crypto/index.ts';
import { assertRejectsCryptoError, assertThrowsCryptoError } from './assert-crypto-error.ts';

const encoder = new TextEncoder();
const message = encoder.encode('prepare v=0 s=1');
const context = encoder.encode('sim/prepare');
const seed = Uint8Array.from({ length: 32 }, (_, i) => i + 1);
const keyPair = insecure.keyPairFromSeed(seed);

describe('insecureSimulationScheme', () => {
  test('declares its name and sizes: 32-byte keys and seeds, 16-byte signatures', () => {
    assert.equal(insecure.name, 'insecure-simulation');
    assert.equal(insecure.publicKeyBytes, 32);
    assert.equal(insecure.seedBytes, 32);
    assert.equal(insecure.signatureBytes, 16);
  });

  test('the public key is the seed itself, so it provides no security', () => {
    assert.deepEqual(keyPair.publicKey.raw, seed);
    assert.deepEqual(insecure.exportSeed(keyPair.privateKey), seed);
  });

  test('a signature is the first 16 bytes of SHA-256(tag || seed || u8 contextLength || context || message)', () => {
    const tag = encoder.encode('cretoai/insecure-simulation-signature/v1');
    const expected = sha256(tag, seed, Uint8Array.of(context.length), context, message).slice(0, 16);
    assert.deepEqual(insecure.sign(keyPair.privateKey, message, context), expected);
  });

  test('signing is deterministic across key pairs made from the same seed', () => {
    const again = insecure.keyPairFromSeed(seed.slice());
    assert.deepEqual(
      insecure.sign(again.privateKey, message, context),
      insecure.sign(keyPair.privateKey, message, context),
    );
  });

  test('verifies its own signatures, sync and async', async () => {
    const signature = insecure.sign(keyPair.privateKey, message, context);
    assert.ok(insecure.verify(keyPair.publicKey, message, signature, context));
    assert.deepEqual(await insecure.signAsync(keyPair.privateKey, message, context), signature);
    assert.equal(await insecure.verifyAsync(keyPair.publicKey, message, signature, context), true);
    const imported = insecure.importPublicKey(seed);
    assert.ok(insecure.verify(imported, message, signature, context));
  });

  test('rejects another message, another context, a tampered, truncated or empty signature, the wrong key', async () => {
    const signature = insecure.sign(keyPair.privateKey, message, context);
    const flipped = signature.slice();
    flipped[0]! ^= 1;
    const other = insecure.keyPairFromSeed(new Uint8Array(32));
    const cases = [
      () => insecure.verify(keyPair.publicKey, encoder.encode('prepare v=0 s=2'), signature, context),
      () => insecure.verify(keyPair.publicKey, message, signature, encoder.encode('sim/commit')),
      () => insecure.verify(keyPair.publicKey, message, flipped, context),
      () => insecure.verify(keyPair.publicKey, message, signature.subarray(0, 15), context),
      () => insecure.verify(keyPair.publicKey, message, new Uint8Array([...signature, 0]), context),
      () => insecure.verify(keyPair.publicKey, message, new Uint8Array(0), context),
      () => insecure.verify(other.publicKey, message, signature, context),
    ];
    for (const run of cases) assert.equal(run(), false);
    assert.equal(await insecure.verifyAsync(keyPair.publicKey, message, flipped, context), false);
  });

  test('property: moving bytes between the context and the message changes the signature', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        fc.uint8Array({ maxLength: 64 }),
        (c, m) => {
          // (c, m) and (c minus its last byte, that byte + m) concatenate to the same bytes.
          const shifted = insecure.sign(
            keyPair.privateKey,
            Uint8Array.of(c.at(-1)!, ...m),
            c.subarray(0, -1),
          );
          assert.equal(insecure.verify(keyPair.publicKey, m, shifted, c), false);
        },
      ),
    );
  });

  test('refuses seeds and public keys of the wrong length and contexts over 255 bytes', async () => {
    assertThrowsCryptoError(() => insecure.keyPairFromSeed(new Uint8Array(31)), 'invalid-seed');
    assertThrowsCryptoError(() => insecure.importPublicKey(new Uint8Array(2592)), 'invalid-public-key');
    const tooLong = new Uint8Array(256);
    assertThrowsCryptoError(() => insecure.sign(keyPair.privateKey, message, tooLong), 'invalid-context');
    assertThrowsCryptoError(
      () => insecure.verify(keyPair.publicKey, message, new Uint8Array(16), tooLong),
      'invalid-context',
    );
    await assertRejectsCryptoError(
      () => insecure.signAsync(keyPair.privateKey, message, tooLong),
      'invalid-context',
    );
  });

  test('its keys are refused where ML-DSA-87 keys are expected, with scheme-mismatch', async () => {
    const signature = insecure.sign(keyPair.privateKey, message, context);
    assertThrowsCryptoError(() => mlDsa87.sign(keyPair.privateKey, message, context), 'scheme-mismatch');
    assertThrowsCryptoError(
      () => mlDsa87.verify(keyPair.publicKey, message, signature, context),
      'scheme-mismatch',
    );
    assertThrowsCryptoError(() => mlDsa87.exportSeed(keyPair.privateKey), 'scheme-mismatch');
    assertThrowsCryptoError(() => exportPrivateKeyPem(keyPair.privateKey), 'scheme-mismatch');
    assertThrowsCryptoError(() => exportPublicKeyPem(keyPair.publicKey), 'scheme-mismatch');
    await assertRejectsCryptoError(
      () => mlDsa87.signAsync(keyPair.privateKey, message, context),
      'scheme-mismatch',
    );
    await assertRejectsCryptoError(
      () => mlDsa87.verifyAsync(keyPair.publicKey, message, signature, context),
      'scheme-mismatch',
    );
  });

  test('ML-DSA-87 keys are refused by it, with scheme-mismatch', async () => {
    const real = mlDsa87.generateKeyPair();
    assertThrowsCryptoError(() => insecure.sign(real.privateKey, message, context), 'scheme-mismatch');
    assertThrowsCryptoError(
      () => insecure.verify(real.publicKey, message, new Uint8Array(16), context),
      'scheme-mismatch',
    );
    assertThrowsCryptoError(() => insecure.exportSeed(real.privateKey), 'scheme-mismatch');
    await assertRejectsCryptoError(
      () => insecure.verifyAsync(real.publicKey, message, new Uint8Array(16), context),
      'scheme-mismatch',
    );
  });
});
