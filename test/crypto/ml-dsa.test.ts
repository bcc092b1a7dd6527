import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, test } from 'node:test';
import { ml_dsa87 } from '@noble/post-quantum/ml-dsa.js';
import fc from 'fast-check';
import type { PrivateKey, PublicKey } from '../../src/crypto/index.ts';
import {
  CONTEXT_BYTES_MAX,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  importPrivateKeyPem,
  importPublicKeyPem,
  mlDsa87,
} from '../../src/crypto/index.ts';
import { assertRejectsCryptoError, assertThrowsCryptoError } from './assert-crypto-error.ts';

const encoder = new TextEncoder();
const message = encoder.encode('pre-prepare v=3 s=42');
const context = encoder.encode('cretoai/cluster-a/pre-prepare');

// One key pair for the tests that only need "some key": generation is cheap, but sharing it
// keeps the file fast and the tests about the claim they name.
const keyPair = mlDsa87.generateKeyPair();
const signature = mlDsa87.sign(keyPair.privateKey, message, context);

function flipBit(bytes: Uint8Array, bit: number): Uint8Array {
  const out = bytes.slice();
  out[bit >> 3]! ^= 1 << (bit & 7);
  return out;
}

describe('mlDsa87 keys', () => {
  test('the scheme declares the FIPS 204 ML-DSA-87 sizes', () => {
    assert.equal(mlDsa87.name, 'ml-dsa-87');
    assert.equal(mlDsa87.publicKeyBytes, 2592);
    assert.equal(mlDsa87.seedBytes, 32);
    assert.equal(mlDsa87.signatureBytes, 4627);
  });

  test('generateKeyPair gives a 2592-byte raw public key and a 32-byte seed', () => {
    const { publicKey, privateKey } = mlDsa87.generateKeyPair();
    assert.equal(publicKey.scheme, 'ml-dsa-87');
    assert.equal(privateKey.scheme, 'ml-dsa-87');
    assert.equal(publicKey.raw.length, 2592);
    assert.equal(mlDsa87.exportSeed(privateKey).length, 32);
  });

  test('two generated key pairs differ', () => {
    const other = mlDsa87.generateKeyPair();
    assert.notDeepEqual(other.publicKey.raw, keyPair.publicKey.raw);
  });

  test('the exported seed re-creates the same key pair (seed round trip)', () => {
    const seed = mlDsa87.exportSeed(keyPair.privateKey);
    const again = mlDsa87.keyPairFromSeed(seed);
    assert.deepEqual(again.publicKey.raw, keyPair.publicKey.raw);
    assert.deepEqual(mlDsa87.exportSeed(again.privateKey), seed);
    assert.ok(
      mlDsa87.verify(keyPair.publicKey, message, mlDsa87.sign(again.privateKey, message, context), context),
    );
  });

  test('keyPairFromSeed is deterministic and distinct seeds give distinct keys', () => {
    const seed = new Uint8Array(32).fill(0x2a);
    assert.deepEqual(
      mlDsa87.keyPairFromSeed(seed).publicKey.raw,
      mlDsa87.keyPairFromSeed(seed).publicKey.raw,
    );
    const otherSeed = seed.slice();
    otherSeed[31] = 0x2b;
    assert.notDeepEqual(
      mlDsa87.keyPairFromSeed(otherSeed).publicKey.raw,
      mlDsa87.keyPairFromSeed(seed).publicKey.raw,
    );
  });

  test('importPublicKey of the raw bytes gives a key that verifies the same signatures', () => {
    const imported = mlDsa87.importPublicKey(keyPair.publicKey.raw);
    assert.deepEqual(imported.raw, keyPair.publicKey.raw);
    assert.ok(mlDsa87.verify(imported, message, signature, context));
  });

  test('a public key does not change when the caller writes into its input or its raw bytes', () => {
    const input = keyPair.publicKey.raw;
    const imported = mlDsa87.importPublicKey(input);
    input.fill(0);
    imported.raw.fill(0);
    assert.deepEqual(imported.raw, keyPair.publicKey.raw);
    assert.ok(mlDsa87.verify(imported, message, signature, context));
  });

  test('a private key prints no secret material', () => {
    assert.deepEqual(Object.keys(keyPair.privateKey), ['scheme']);
    assert.equal(JSON.stringify(keyPair.privateKey), '{"scheme":"ml-dsa-87"}');
  });

  test('private key PEM round trip keeps the seed and derives the same public key', () => {
    const pem = exportPrivateKeyPem(keyPair.privateKey);
    assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
    const imported = importPrivateKeyPem(pem);
    assert.deepEqual(mlDsa87.exportSeed(imported.privateKey), mlDsa87.exportSeed(keyPair.privateKey));
    assert.deepEqual(imported.publicKey.raw, keyPair.publicKey.raw);
  });

  test('public key PEM round trip keeps the raw public key', () => {
    const pem = exportPublicKeyPem(keyPair.publicKey);
    assert.match(pem, /^-----BEGIN PUBLIC KEY-----\n/);
    const imported = importPublicKeyPem(pem);
    assert.deepEqual(imported.raw, keyPair.publicKey.raw);
    assert.ok(mlDsa87.verify(imported, message, signature, context));
  });

  test('importPublicKey refuses raw bytes of the wrong length with invalid-public-key', () => {
    const raw = keyPair.publicKey.raw;
    for (const bad of [new Uint8Array(0), raw.subarray(0, 2591), new Uint8Array(2593), new Uint8Array(32)]) {
      assertThrowsCryptoError(() => mlDsa87.importPublicKey(bad), 'invalid-public-key');
    }
  });

  test('keyPairFromSeed refuses a seed of the wrong length with invalid-seed', () => {
    for (const length of [0, 31, 33, 64]) {
      assertThrowsCryptoError(() => mlDsa87.keyPairFromSeed(new Uint8Array(length)), 'invalid-seed');
    }
  });

  test('importPrivateKeyPem refuses garbage, a public key and an encrypted key with invalid-pem', () => {
    const encrypted = generateKeyPairSync('ml-dsa-87').privateKey.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'secret',
    });
    const truncated = exportPrivateKeyPem(keyPair.privateKey).slice(0, 200);
    for (const bad of ['', 'garbage', truncated, exportPublicKeyPem(keyPair.publicKey), String(encrypted)]) {
      assertThrowsCryptoError(() => importPrivateKeyPem(bad), 'invalid-pem');
    }
  });

  test('importPublicKeyPem refuses garbage and a private key with invalid-pem', () => {
    const corrupted = exportPublicKeyPem(keyPair.publicKey).replace(/[A-Za-z0-9+/]{40}/, '!'.repeat(40));
    for (const bad of ['', 'garbage', corrupted, exportPrivateKeyPem(keyPair.privateKey)]) {
      assertThrowsCryptoError(() => importPublicKeyPem(bad), 'invalid-pem');
    }
  });

  test('PEM imports refuse Ed25519 and ML-DSA-65 keys with wrong-key-type', () => {
    for (const other of [generateKeyPairSync('ed25519'), generateKeyPairSync('ml-dsa-65')]) {
      const privatePem = String(other.privateKey.export({ format: 'pem', type: 'pkcs8' }));
      const publicPem = String(other.publicKey.export({ format: 'pem', type: 'spki' }));
      assertThrowsCryptoError(() => importPrivateKeyPem(privatePem), 'wrong-key-type');
      assertThrowsCryptoError(() => importPublicKeyPem(publicPem), 'wrong-key-type');
    }
  });

  test('importPrivateKeyPem refuses an ML-DSA-87 key stored without its seed with missing-seed', () => {
    // OpenSSL writes seed and expanded key; another tool may write the expanded key alone
    // (the `expandedKey` choice of the IETF ML-DSA key format). Build that PKCS#8 by hand.
    const expanded = ml_dsa87.keygen(new Uint8Array(32).fill(7)).secretKey;
    assert.equal(expanded.length, 4896);
    const der = Buffer.concat([
      Buffer.from('30821338020100300b0609608648016503040313', 'hex'), // SEQUENCE, version 0, id-ml-dsa-87
      Buffer.from('0482132404821320', 'hex'), // privateKey OCTET STRING { expandedKey OCTET STRING }
      expanded,
    ]);
    const pem = `-----BEGIN PRIVATE KEY-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END PRIVATE KEY-----\n`;
    assertThrowsCryptoError(() => importPrivateKeyPem(pem), 'missing-seed');
  });

  test('a key shows nothing of what it hides: its class has no members of its own', () => {
    for (const key of [keyPair.publicKey, keyPair.privateKey]) {
      const members = Object.getOwnPropertyNames(key.constructor).filter(
        (name) => !['length', 'name', 'prototype'].includes(name),
      );
      assert.deepEqual(members, [], `${key.constructor.name} exposes ${members.join(', ')}`);
    }
  });

  test('a look-alike object that claims the scheme is refused with foreign-key', async () => {
    const fakePublic: PublicKey = { scheme: 'ml-dsa-87', raw: keyPair.publicKey.raw };
    const fakePrivate: PrivateKey = { scheme: 'ml-dsa-87' };
    assertThrowsCryptoError(() => mlDsa87.verify(fakePublic, message, signature, context), 'foreign-key');
    assertThrowsCryptoError(() => mlDsa87.sign(fakePrivate, message, context), 'foreign-key');
    assertThrowsCryptoError(() => mlDsa87.exportSeed(fakePrivate), 'foreign-key');
    assertThrowsCryptoError(() => exportPublicKeyPem(fakePublic), 'foreign-key');
    await assertRejectsCryptoError(
      () => mlDsa87.verifyAsync(fakePublic, message, signature, context),
      'foreign-key',
    );
  });
});

describe('mlDsa87 sign and verify', () => {
  test('a signature is 4627 bytes and verifies under its message and context', () => {
    assert.equal(signature.length, 4627);
    assert.ok(mlDsa87.verify(keyPair.publicKey, message, signature, context));
  });

  test('signing is hedged: two signatures of one message differ and both verify', () => {
    const again = mlDsa87.sign(keyPair.privateKey, message, context);
    assert.notDeepEqual(again, signature);
    assert.ok(mlDsa87.verify(keyPair.publicKey, message, again, context));
  });

  test('verify returns false under another context, including the empty one', () => {
    assert.equal(
      mlDsa87.verify(keyPair.publicKey, message, signature, encoder.encode('cretoai/cluster-b')),
      false,
    );
    assert.equal(mlDsa87.verify(keyPair.publicKey, message, signature, new Uint8Array(0)), false);
  });

  test('verify returns false for another message', () => {
    assert.equal(
      mlDsa87.verify(keyPair.publicKey, encoder.encode('pre-prepare v=3 s=43'), signature, context),
      false,
    );
    assert.equal(mlDsa87.verify(keyPair.publicKey, new Uint8Array(0), signature, context), false);
  });

  test('verify returns false under the wrong public key', () => {
    const other = mlDsa87.generateKeyPair();
    assert.equal(mlDsa87.verify(other.publicKey, message, signature, context), false);
  });

  test('verify returns false, without throwing, for flipped, truncated, extended and empty signatures', () => {
    const malformed = [
      flipBit(signature, 0),
      flipBit(signature, 4627 * 8 - 1),
      signature.subarray(0, 4626),
      signature.subarray(0, 32),
      new Uint8Array([...signature, 0]),
      new Uint8Array(0),
      new Uint8Array(4627),
      new Uint8Array(4627).fill(0xff),
    ];
    for (const bad of malformed)
      assert.equal(mlDsa87.verify(keyPair.publicKey, message, bad, context), false);
  });

  test('property: flipping any single bit of a signature makes verify return false', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4627 * 8 - 1 }), (bit) => {
        assert.equal(mlDsa87.verify(keyPair.publicKey, message, flipBit(signature, bit), context), false);
      }),
      { numRuns: 200 },
    );
  });

  test('property: random bytes of any length never verify and never throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ minLength: 4627, maxLength: 4627 }), fc.uint8Array({ maxLength: 5000 })),
        (bytes) => {
          assert.equal(mlDsa87.verify(keyPair.publicKey, message, bytes, context), false);
        },
      ),
      { numRuns: 100 },
    );
  });

  test('property: a signature verifies for any message and any context of 0..255 bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.uint8Array({ maxLength: CONTEXT_BYTES_MAX }),
        (m, c) => {
          const sig = mlDsa87.sign(keyPair.privateKey, m, c);
          assert.ok(mlDsa87.verify(keyPair.publicKey, m, sig, c));
        },
      ),
      { numRuns: 30 },
    );
  });

  test('a 255-byte context works; a 256-byte context throws invalid-context (sync and async)', async () => {
    const longest = new Uint8Array(255).fill(1);
    const sig = mlDsa87.sign(keyPair.privateKey, message, longest);
    assert.ok(mlDsa87.verify(keyPair.publicKey, message, sig, longest));
    const tooLong = new Uint8Array(256);
    assertThrowsCryptoError(() => mlDsa87.sign(keyPair.privateKey, message, tooLong), 'invalid-context');
    assertThrowsCryptoError(
      () => mlDsa87.verify(keyPair.publicKey, message, sig, tooLong),
      'invalid-context',
    );
    await assertRejectsCryptoError(
      () => mlDsa87.signAsync(keyPair.privateKey, message, tooLong),
      'invalid-context',
    );
    await assertRejectsCryptoError(
      () => mlDsa87.verifyAsync(keyPair.publicKey, message, sig, tooLong),
      'invalid-context',
    );
  });

  test('signAsync and verifyAsync agree with sign and verify', async () => {
    const asyncSignature = await mlDsa87.signAsync(keyPair.privateKey, message, context);
    assert.equal(asyncSignature.length, 4627);
    assert.ok(mlDsa87.verify(keyPair.publicKey, message, asyncSignature, context));
    assert.equal(await mlDsa87.verifyAsync(keyPair.publicKey, message, signature, context), true);
    const other = encoder.encode('other');
    const cases: [Uint8Array, Uint8Array, Uint8Array][] = [
      [message, signature, context],
      [message, asyncSignature, context],
      [other, signature, context],
      [message, signature, other],
      [message, flipBit(signature, 100), context],
      [message, signature.subarray(1), context],
      [message, new Uint8Array(0), context],
    ];
    for (const [m, s, c] of cases) {
      assert.equal(
        await mlDsa87.verifyAsync(keyPair.publicKey, m, s, c),
        mlDsa87.verify(keyPair.publicKey, m, s, c),
      );
    }
  });

  test('many concurrent verifyAsync calls on the thread pool all give the right answer', async () => {
    const results = await Promise.all(
      Array.from({ length: 64 }, (_, i) =>
        mlDsa87.verifyAsync(
          keyPair.publicKey,
          message,
          i % 2 === 0 ? signature : flipBit(signature, i),
          context,
        ),
      ),
    );
    assert.deepEqual(
      results,
      results.map((_, i) => i % 2 === 0),
    );
  });

  test('signAsync signs the message as it was at the call, even if the caller reuses the buffer', async () => {
    const buffer = message.slice();
    const pending = mlDsa87.signAsync(keyPair.privateKey, buffer, context);
    buffer.fill(0);
    assert.ok(mlDsa87.verify(keyPair.publicKey, message, await pending, context));
  });
});

describe('mlDsa87 contexts of calls in flight together', () => {
  // The module hands node:crypto the context on its own key object just before each call
  // (src/crypto/ml-dsa.ts): calls started back to back with different contexts on one key
  // must each keep the context they were started with.
  const contexts = ['a', 'b', '', 'c'].map((name) => encoder.encode(name));

  test('async signatures started together each bind their own context, as a third party checks', async () => {
    const signatures = await Promise.all(
      Array.from({ length: 16 }, (_, i) => mlDsa87.signAsync(keyPair.privateKey, message, contexts[i % 4]!)),
    );
    const publicKey = keyPair.publicKey.raw;
    signatures.forEach((s, i) => {
      contexts.forEach((c, j) => {
        assert.equal(
          ml_dsa87.verify(s, message, publicKey, { context: c }),
          i % 4 === j,
          `signature ${i}, context ${j}`,
        );
      });
    });
  });

  test('async verifications started together each check under their own context', async () => {
    const signed = contexts.map((c) => mlDsa87.sign(keyPair.privateKey, message, c));
    const cases = contexts.flatMap((c, j) => signed.map((s, i) => ({ s, c, valid: i === j })));
    const results = await Promise.all(
      cases.map(({ s, c }) => mlDsa87.verifyAsync(keyPair.publicKey, message, s, c)),
    );
    assert.deepEqual(
      results,
      cases.map(({ valid }) => valid),
    );
  });
});
