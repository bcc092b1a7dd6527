/**
 * The epoch on the wire and in sign-bytes (docs/reconfiguration.md, "On the wire"): a u32 right
 * after the type byte of every signed message and first in every nested one; in sign-bytes, none
 * for epoch 0 (whose bytes never changed) and the `cretoai/v2/...` tag with the epoch after the
 * cluster id for every later epoch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Checkpoint, NewView, Prepare, ViewChange } from '../../src/protocol/messages.ts';
import {
  decodeLimitsFor,
  decodeMessage,
  encodeMessage,
  SIGN_DOMAIN_TAGS,
  signaturesOf,
  signBytes,
} from '../../src/wire/index.ts';
import { EPOCH_SIGN_DOMAIN_TAGS } from '../../src/wire/sign-bytes.ts';

const CLUSTER = 'epoch-test';
const limits = decodeLimitsFor({
  replicaCount: 4,
  maxSignatureBytes: 8,
  batchCountMax: 4,
  batchBytesMax: 1024,
  vertexPayloadBytesMax: 64,
  vertexParentsMax: 2,
  watermarkWindow: 8,
  stateEntriesMax: 4,
  maxFrameBytes: 1 << 16,
});
const signature = Uint8Array.of(1, 2, 3);
const digest = new Uint8Array(32).fill(7);

function prepare(epoch: number): Prepare {
  return { kind: 'prepare', epoch, view: 2, sequence: 9, digest, replica: 1, signature };
}

function checkpoint(epoch: number, replica: number): Checkpoint {
  return { kind: 'checkpoint', epoch, sequence: 8, stateDigest: digest, replica, signature };
}

function viewChange(epoch: number, proofEpoch = epoch): ViewChange {
  return {
    kind: 'view-change',
    epoch,
    view: 3,
    checkpoint: { sequence: 8, stateDigest: digest, proof: [0, 1, 2].map((r) => checkpoint(proofEpoch, r)) },
    prepared: [],
    replica: 2,
    signature,
  };
}

function tagged(tag: string): Uint8Array {
  const ascii = new TextEncoder().encode(tag);
  return Uint8Array.of(ascii.length, ...ascii);
}

const clusterBytes = Uint8Array.of(0, 0, 0, CLUSTER.length, ...new TextEncoder().encode(CLUSTER));

test('epoch 0 signs the bytes of the release before epochs: v1 tag, cluster id, fields', () => {
  const bytes = signBytes(prepare(0), CLUSTER);
  const head = [...tagged(SIGN_DOMAIN_TAGS.prepare), ...clusterBytes];
  assert.deepEqual([...bytes.subarray(0, head.length)], head);
  // replica u16 follows at once: no epoch.
  assert.deepEqual([...bytes.subarray(head.length, head.length + 2)], [0, 1]);
});

test('a later epoch signs under the v2 tag with the epoch after the cluster id', () => {
  const bytes = signBytes(prepare(0x0102_0304), CLUSTER);
  const head = [...tagged(EPOCH_SIGN_DOMAIN_TAGS.prepare), ...clusterBytes];
  assert.equal(EPOCH_SIGN_DOMAIN_TAGS.prepare, 'cretoai/v2/prepare');
  assert.deepEqual([...bytes.subarray(0, head.length)], head);
  assert.deepEqual([...bytes.subarray(head.length, head.length + 6)], [1, 2, 3, 4, 0, 1]);
  for (const tag of Object.values(EPOCH_SIGN_DOMAIN_TAGS)) {
    assert.ok(!Object.values(SIGN_DOMAIN_TAGS).includes(tag), `${tag} is no epoch-0 tag`);
  }
});

test('one vote in two epochs signs different bytes, so it cannot count in the other', () => {
  const epochs = [0, 1, 2, 0xffff_ffff];
  const seen = new Set(
    epochs.map((epoch) => Buffer.from(signBytes(prepare(epoch), CLUSTER)).toString('hex')),
  );
  assert.equal(seen.size, epochs.length);
});

test('a parent binds the epochs of the messages nested in it', () => {
  const newView = (proofEpoch: number): NewView => ({
    kind: 'new-view',
    epoch: 1,
    view: 3,
    viewChanges: [viewChange(1, proofEpoch)],
    prePrepares: [],
    replica: 3,
    signature,
  });
  const same = signBytes(newView(1), CLUSTER);
  const other = signBytes(newView(2), CLUSTER);
  assert.notDeepEqual(same, other);
  // Every nested signature is checked over the sign-bytes of its own epoch.
  const checks = signaturesOf(newView(2), CLUSTER);
  const tag = tagged('cretoai/v2/checkpoint');
  const proofChecks = checks.filter((check) => Buffer.from(check.bytes.subarray(0, tag.length)).equals(tag));
  assert.equal(proofChecks.length, 3, 'the three CHECKPOINTs of epoch 2 are checked as epoch 2');
  for (const check of proofChecks) {
    const at = tag.length + clusterBytes.length;
    assert.deepEqual([...check.bytes.subarray(at, at + 4)], [0, 0, 0, 2]);
  }
});

test('the codec carries the epoch first in every signed message, nested ones included', () => {
  const message = viewChange(0xfeed_f00d);
  const body = encodeMessage(message);
  assert.equal(body[0], 3, 'codec version 3');
  assert.deepEqual([...body.subarray(2, 6)], [0xfe, 0xed, 0xf0, 0x0d]);
  const decoded = decodeMessage(body, limits);
  assert.ok(decoded.ok);
  assert.deepEqual(decoded.message, message);
  // The first nested CHECKPOINT starts after replica, view, checkpoint sequence, digest, count.
  const nested = 6 + 2 + 8 + 8 + 32 + 2;
  assert.deepEqual([...body.subarray(nested, nested + 4)], [0xfe, 0xed, 0xf0, 0x0d]);
});
