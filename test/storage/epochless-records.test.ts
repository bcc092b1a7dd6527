/**
 * Stores written before epochs existed must keep working: their records (format 1) and the wire
 * bodies inside them (codec version 2) read as epoch 0, and every signature they hold still
 * verifies, because epoch 0 signs the bytes it always signed. The fixture holds real records of
 * that release (see its `about`).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';

import { insecureSimulationScheme as scheme } from '../../src/crypto/insecure-simulation.ts';
import type { Message } from '../../src/protocol/messages.ts';
import { CONSENSUS_CONTEXT } from '../../src/shell/signing.ts';
import {
  decodeFinalized,
  decodePrePrepare,
  decodePrepared,
  decodeStable,
  decodeView,
  encodeFinalized,
  encodePrePrepare,
  encodePrepared,
  encodeStable,
  encodeView,
  RECORD_FORMAT,
} from '../../src/storage/record-codec.ts';
import { decodeLimitsFor, decodeMessage, encodeMessage, signaturesOf } from '../../src/wire/index.ts';

function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

interface Fixture {
  readonly clusterId: string;
  readonly keySeeds: readonly number[];
  readonly records: readonly { name: string; sequence?: number; key: string; value: string }[];
}

const fixture: Fixture = JSON.parse(
  fs.readFileSync(new URL('./fixtures/epochless-records.json', import.meta.url), 'utf8'),
);
const publicKeys = fixture.keySeeds.map(
  (seed) => scheme.keyPairFromSeed(new Uint8Array(32).fill(seed)).publicKey,
);

function record(name: string): { sequence: number; key: Uint8Array; value: Uint8Array } {
  const found = fixture.records.find((entry) => entry.name === name);
  assert.ok(found, `the fixture has a ${name} record`);
  return { sequence: found.sequence ?? 0, key: fromHex(found.key), value: fromHex(found.value) };
}

/** Every signed message in `value`, however deeply nested, with its epoch. */
function signedMessages(value: unknown, found: Message[] = []): Message[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  if (Array.isArray(value)) {
    for (const item of value) signedMessages(item, found);
    return found;
  }
  const object = value as Record<string, unknown>;
  if (
    typeof object.kind === 'string' &&
    object.signature instanceof Uint8Array &&
    object.signature.length > 0
  )
    found.push(object as unknown as Message);
  for (const child of Object.values(object)) signedMessages(child, found);
  return found;
}

/** Checks every signature a decoded record holds against the fixture's keys. */
function assertSignaturesVerify(decoded: unknown): number {
  let checked = 0;
  for (const message of signedMessages(decoded)) {
    for (const check of signaturesOf(message, fixture.clusterId)) {
      const key = publicKeys[check.replica]!;
      assert.ok(
        scheme.verify(key, check.bytes, check.signature, CONSENSUS_CONTEXT),
        `${message.kind} by ${check.replica} verifies with the sign-bytes of epoch 0`,
      );
      checked++;
    }
  }
  return checked;
}

/** Every `epoch` field anywhere in `value`. */
function epochs(value: unknown, found: number[] = []): number[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  for (const [name, child] of Object.entries(value)) {
    if (name === 'epoch') found.push(child as number);
    else epochs(child, found);
  }
  return found;
}

const readers = {
  view: (r: ReturnType<typeof record>) => decodeView(r.value),
  'pre-prepare': (r: ReturnType<typeof record>) => decodePrePrepare(r.sequence, r.value),
  prepared: (r: ReturnType<typeof record>) => decodePrepared(r.sequence, r.value),
  stable: (r: ReturnType<typeof record>) => decodeStable(r.value),
  finalized: (r: ReturnType<typeof record>) => decodeFinalized(r.sequence, r.value),
} as const;

const writers = {
  view: (decoded: unknown) => encodeView(decoded as Parameters<typeof encodeView>[0]),
  'pre-prepare': (decoded: unknown) => encodePrePrepare(decoded as Parameters<typeof encodePrePrepare>[0]),
  prepared: (decoded: unknown) => encodePrepared(decoded as Parameters<typeof encodePrepared>[0]),
  stable: (decoded: unknown) => encodeStable(decoded as Parameters<typeof encodeStable>[0]),
  finalized: (decoded: unknown) => encodeFinalized(decoded as Parameters<typeof encodeFinalized>[0]),
} as const;

for (const name of Object.keys(readers) as (keyof typeof readers)[]) {
  test(`a ${name} record of format 1 reads as epoch 0 and its signatures still verify`, () => {
    const stored = record(name);
    assert.equal(stored.value[0], 1, 'the fixture is format 1');
    const decoded = readers[name](stored);
    const found = epochs(decoded);
    if (name !== 'pre-prepare') assert.ok(found.length > 0, 'the record holds messages with an epoch');
    assert.deepEqual(new Set(found), found.length === 0 ? new Set() : new Set([0]));
    if (name !== 'pre-prepare') assert.ok(assertSignaturesVerify(decoded) > 0);

    // Written again, it takes this release's format and reads back the same.
    const rewritten = writers[name](decoded);
    assert.equal(rewritten[0], RECORD_FORMAT);
    assert.deepEqual(readers[name]({ ...stored, value: rewritten }), decoded);
  });
}

test('a format 1 draft PRE-PREPARE and the view record read as epoch 0', () => {
  const view = decodeView(record('view').value);
  assert.equal(view.epoch, 0);
  assert.equal(view.view, 1);
  assert.ok(view.newView !== null && !('signature' in view.newView), 'the NEW-VIEW is a draft');
  assert.equal(view.newView.epoch, 0);
  const prePrepare = decodePrePrepare(6, record('pre-prepare').value);
  assert.equal(prePrepare.prePrepare.epoch, 0);
  assert.equal(prePrepare.batch?.length, 2);
});

test('a codec version 2 body is accepted from a store only, and re-encodes as version 3', () => {
  const finalized = decodeFinalized(1, record('finalized').value);
  const commit = finalized.commits[0]!;
  // Rebuild the old body: version 2, type, then the fields without the epoch.
  const current = encodeMessage(commit);
  assert.equal(current[0], 3);
  const old = new Uint8Array(current.length - 4);
  old[0] = 2;
  old[1] = current[1]!;
  old.set(current.subarray(6), 2);
  const limits = decodeLimitsFor({
    replicaCount: 4,
    maxSignatureBytes: 64,
    batchCountMax: 4,
    batchBytesMax: 1024,
    vertexPayloadBytesMax: 64,
    vertexParentsMax: 2,
    watermarkWindow: 8,
    stateEntriesMax: 4,
    maxFrameBytes: 1 << 16,
  });
  const fromPeer = decodeMessage(old, limits);
  assert.equal(fromPeer.ok, false);
  assert.equal(!fromPeer.ok && fromPeer.error.code, 'unknown-version');
  const fromStore = decodeMessage(old, limits, true);
  assert.ok(fromStore.ok);
  assert.deepEqual(fromStore.message, commit);
  assert.deepEqual(encodeMessage(fromStore.message), current);
});
