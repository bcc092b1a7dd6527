import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type {
  Commit,
  Draft,
  Message,
  MessageOf,
  PrePrepare,
  Prepare,
  SignedKind,
  SignedMessage,
  ViewChange,
} from '../../src/protocol/messages.ts';
import { isSignedKind, SIGNED_KINDS } from '../../src/protocol/messages.ts';
import { createVertex } from '../../src/protocol/types.ts';
import {
  decodeMessage,
  encodeMessage,
  SIGN_DOMAIN_TAGS,
  signaturesOf,
  signBytes,
} from '../../src/wire/index.ts';
import { EPOCH_SIGN_DOMAIN_TAGS } from '../../src/wire/sign-bytes.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { arbitraries, hex, limits, numRuns, seed } from './fixtures.ts';

const cluster = 'cluster-a';

const bump = (value: number): number => (value < Number.MAX_SAFE_INTEGER ? value + 1 : value - 1);
const bumpEpoch = (epoch: number): number => (epoch < 0xffff_ffff ? epoch + 1 : epoch - 1);
const flip = (bytes: Uint8Array): Uint8Array => {
  const out = bytes.slice();
  out[0] = (out[0] ?? 0) ^ 1;
  return out;
};
const otherReplica = (replica: number): number => (replica + 1) % limits.replicaCount;

function without<T>(items: readonly T[], index: number): T[] {
  return items.filter((_, i) => i !== index);
}

function replaceAt<T>(items: readonly T[], index: number, item: T): T[] {
  return items.map((existing, i) => (i === index ? item : existing));
}

test(`sign-bytes differ across kinds with equal fields: PRE-PREPARE, PREPARE, COMMIT on one (epoch, replica, view, sequence, digest) (seed ${seed})`, () => {
  fc.assert(
    fc.property(
      arbitraries.epoch,
      arbitraries.replica,
      arbitraries.counter,
      arbitraries.counter,
      arbitraries.digest,
      (epoch, replica, view, sequence, digest) => {
        const fields = { epoch, replica, view, sequence, digest };
        const all = [
          signBytes({ kind: 'pre-prepare', ...fields, batch: null }, cluster),
          signBytes({ kind: 'prepare', ...fields }, cluster),
          signBytes({ kind: 'commit', ...fields }, cluster),
        ].map(hex);
        assert.equal(new Set(all).size, 3);
      },
    ),
    { seed, numRuns },
  );
});

test(`sign-bytes start with the kind's length-prefixed domain tag (v1 for epoch 0, v2 for later epochs), then the length-prefixed cluster id, then a later epoch (seed ${seed})`, () => {
  const epochZero = arbitraries.signedMessage.map((message): SignedMessage => ({ ...message, epoch: 0 }));
  fc.assert(
    fc.property(fc.oneof(epochZero, arbitraries.signedMessage), fc.string(), (message, clusterId) => {
      const bytes = signBytes(message, clusterId);
      const tags = message.epoch === 0 ? SIGN_DOMAIN_TAGS : EPOCH_SIGN_DOMAIN_TAGS;
      const tag = new TextEncoder().encode(tags[message.kind]);
      const id = new TextEncoder().encode(clusterId);
      assert.equal(bytes[0], tag.length);
      assert.deepEqual(bytes.subarray(1, 1 + tag.length), tag);
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      assert.equal(view.getUint32(1 + tag.length), id.length);
      assert.deepEqual(bytes.subarray(5 + tag.length, 5 + tag.length + id.length), id);
      // Epoch 0 signs the bytes of the release before epochs: the signer's replica id follows.
      const after = 5 + tag.length + id.length;
      if (message.epoch === 0) assert.equal(view.getUint16(after), message.replica);
      else
        assert.deepEqual(
          [view.getUint32(after), view.getUint16(after + 4)],
          [message.epoch, message.replica],
        );
    }),
    { seed, numRuns },
  );
  const tags = Object.values(SIGN_DOMAIN_TAGS);
  assert.equal(new Set(tags).size, SIGNED_KINDS.length, 'one distinct tag per signed kind');
  assert.ok(
    tags.every((tag) => tag.startsWith('cretoai/v1/')),
    'epoch 0 keeps the v1 tags',
  );
  assert.ok(!tags.includes('cretoai/v1/request'), 'the retired REQUEST tag is not reused');
  const epochTags = Object.values(EPOCH_SIGN_DOMAIN_TAGS);
  assert.equal(new Set([...tags, ...epochTags]).size, 2 * SIGNED_KINDS.length, 'no tag serves both');
  assert.ok(epochTags.every((tag) => tag.startsWith('cretoai/v2/')));
});

test(`sign-bytes differ across cluster ids, including ids that are prefixes of each other (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.signedMessage, fc.string(), fc.string(), (message, a, b) => {
      fc.pre(a !== b);
      const first = hex(signBytes(message, a));
      assert.notEqual(hex(signBytes(message, b)), first);
      // Switching back and forth gives the same bytes (the cluster-id cache is transparent).
      assert.equal(hex(signBytes(message, a)), first);
    }),
    { seed, numRuns },
  );
  const prepare: Message = {
    kind: 'prepare',
    epoch: 0,
    view: 1,
    sequence: 1,
    digest: new Uint8Array(32),
    replica: 0,
    signature: new Uint8Array([1]),
  };
  assert.notEqual(hex(signBytes(prepare, 'ab')), hex(signBytes(prepare, 'a')));
  assert.notEqual(hex(signBytes(prepare, '')), hex(signBytes(prepare, '\u0000')));
});

/** Single-field changes per kind; each returns null where the message has no such field. */
type Mutator<K extends SignedKind> = (m: MessageOf<K>) => MessageOf<K> | null;

const voteMutators = <M extends PrePrepare | Prepare | Commit>(): Record<string, (m: M) => M> => ({
  epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
  replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
  view: (m) => ({ ...m, view: bump(m.view) }),
  sequence: (m) => ({ ...m, sequence: bump(m.sequence) }),
  digest: (m) => ({ ...m, digest: flip(m.digest) }),
});

const mutators: { readonly [K in SignedKind]: Record<string, Mutator<K>> } = {
  'pre-prepare': voteMutators<PrePrepare>(),
  prepare: voteMutators<Prepare>(),
  commit: voteMutators<Commit>(),
  checkpoint: {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    sequence: (m) => ({ ...m, sequence: bump(m.sequence) }),
    stateDigest: (m) => ({ ...m, stateDigest: flip(m.stateDigest) }),
  },
  'view-change': {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    view: (m) => ({ ...m, view: bump(m.view) }),
    'checkpoint.sequence': (m) => ({
      ...m,
      checkpoint: { ...m.checkpoint, sequence: bump(m.checkpoint.sequence) },
    }),
    'checkpoint.stateDigest': (m) => ({
      ...m,
      checkpoint: { ...m.checkpoint, stateDigest: flip(m.checkpoint.stateDigest) },
    }),
    'checkpoint.proof (one fewer)': (m) =>
      m.checkpoint.proof.length === 0
        ? null
        : { ...m, checkpoint: { ...m.checkpoint, proof: m.checkpoint.proof.slice(1) } },
    'checkpoint.proof[0].signature': (m) => {
      const first = m.checkpoint.proof[0];
      if (first === undefined) return null;
      const proof = replaceAt(m.checkpoint.proof, 0, { ...first, signature: flip(first.signature) });
      return { ...m, checkpoint: { ...m.checkpoint, proof } };
    },
    'checkpoint.proof[0].epoch': (m) => {
      const first = m.checkpoint.proof[0];
      if (first === undefined) return null;
      const proof = replaceAt(m.checkpoint.proof, 0, { ...first, epoch: bumpEpoch(first.epoch) });
      return { ...m, checkpoint: { ...m.checkpoint, proof } };
    },
    'prepared (one fewer)': (m) =>
      m.prepared.length === 0 ? null : { ...m, prepared: without(m.prepared, 0) },
    'prepared[0].prePrepare.digest': (m) => {
      const first = m.prepared[0];
      if (first === undefined) return null;
      const prePrepare = { ...first.prePrepare, digest: flip(first.prePrepare.digest) };
      return { ...m, prepared: replaceAt(m.prepared, 0, { ...first, prePrepare }) };
    },
    'prepared[0].prePrepare.epoch': (m) => {
      const first = m.prepared[0];
      if (first === undefined) return null;
      const prePrepare = { ...first.prePrepare, epoch: bumpEpoch(first.prePrepare.epoch) };
      return { ...m, prepared: replaceAt(m.prepared, 0, { ...first, prePrepare }) };
    },
    'prepared[0].prepares[0].signature': (m) => {
      const first = m.prepared[0];
      const prepare = first?.prepares[0];
      if (first === undefined || prepare === undefined) return null;
      const prepares = replaceAt(first.prepares, 0, { ...prepare, signature: flip(prepare.signature) });
      return { ...m, prepared: replaceAt(m.prepared, 0, { ...first, prepares }) };
    },
  },
  'new-view': {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    view: (m) => ({ ...m, view: bump(m.view) }),
    'viewChanges (one fewer)': (m) =>
      m.viewChanges.length === 0 ? null : { ...m, viewChanges: without(m.viewChanges, 0) },
    'viewChanges[0].signature': (m) => {
      const first = m.viewChanges[0];
      if (first === undefined) return null;
      return {
        ...m,
        viewChanges: replaceAt(m.viewChanges, 0, { ...first, signature: flip(first.signature) }),
      };
    },
    'viewChanges[0].epoch': (m) => {
      const first = m.viewChanges[0];
      if (first === undefined) return null;
      return { ...m, viewChanges: replaceAt(m.viewChanges, 0, { ...first, epoch: bumpEpoch(first.epoch) }) };
    },
    'viewChanges[0].checkpoint.sequence': (m) => {
      const first = m.viewChanges[0];
      if (first === undefined) return null;
      const changed: ViewChange = {
        ...first,
        checkpoint: { ...first.checkpoint, sequence: bump(first.checkpoint.sequence) },
      };
      return { ...m, viewChanges: replaceAt(m.viewChanges, 0, changed) };
    },
    'prePrepares (one fewer)': (m) =>
      m.prePrepares.length === 0 ? null : { ...m, prePrepares: without(m.prePrepares, 0) },
    'prePrepares[0].sequence': (m) => {
      const first = m.prePrepares[0];
      if (first === undefined) return null;
      return { ...m, prePrepares: replaceAt(m.prePrepares, 0, { ...first, sequence: bump(first.sequence) }) };
    },
    'prePrepares[0].epoch': (m) => {
      const first = m.prePrepares[0];
      if (first === undefined) return null;
      return { ...m, prePrepares: replaceAt(m.prePrepares, 0, { ...first, epoch: bumpEpoch(first.epoch) }) };
    },
  },
  status: {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    view: (m) => ({ ...m, view: bump(m.view) }),
    viewActive: (m) => ({ ...m, viewActive: !m.viewActive }),
    lastExecuted: (m) => ({ ...m, lastExecuted: bump(m.lastExecuted) }),
    stableSequence: (m) => ({ ...m, stableSequence: bump(m.stableSequence) }),
  },
  'state-request': {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    fromSequence: (m) => ({ ...m, fromSequence: bump(m.fromSequence) }),
    toSequence: (m) => ({ ...m, toSequence: bump(m.toSequence) }),
  },
  'state-reply': {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    'entries (one fewer)': (m) => (m.entries.length === 0 ? null : { ...m, entries: without(m.entries, 0) }),
    'entries[0].sequence': (m) => {
      const first = m.entries[0];
      return first === undefined
        ? null
        : { ...m, entries: replaceAt(m.entries, 0, { ...first, sequence: bump(first.sequence) }) };
    },
    'entries[0].view': (m) => {
      const first = m.entries[0];
      return first === undefined
        ? null
        : { ...m, entries: replaceAt(m.entries, 0, { ...first, view: bump(first.view) }) };
    },
    'entries[0].batch (one more vertex)': (m) => {
      const first = m.entries[0];
      if (first === undefined) return null;
      const batch = [...first.batch, createVertex(new Uint8Array([9]), { validThrough: TEST_VALID_THROUGH })];
      return { ...m, entries: replaceAt(m.entries, 0, { ...first, batch }) };
    },
    'entries[0].commits[0].signature': (m) => {
      const first = m.entries[0];
      const commit = first?.commits[0];
      if (first === undefined || commit === undefined) return null;
      const commits = replaceAt(first.commits, 0, { ...commit, signature: flip(commit.signature) });
      return { ...m, entries: replaceAt(m.entries, 0, { ...first, commits }) };
    },
    'entries[0].commits[0].epoch': (m) => {
      const first = m.entries[0];
      const commit = first?.commits[0];
      if (first === undefined || commit === undefined) return null;
      const commits = replaceAt(first.commits, 0, { ...commit, epoch: bumpEpoch(commit.epoch) });
      return { ...m, entries: replaceAt(m.entries, 0, { ...first, commits }) };
    },
  },
  'view-timeout': {
    epoch: (m) => ({ ...m, epoch: bumpEpoch(m.epoch) }),
    replica: (m) => ({ ...m, replica: otherReplica(m.replica) }),
    view: (m) => ({ ...m, view: bump(m.view) }),
  },
};

for (const kind of SIGNED_KINDS) {
  const names = Object.keys(mutators[kind]);
  test(`${kind} sign-bytes change when any single field changes: ${names.join(', ')} (seed ${seed})`, () => {
    fc.assert(
      fc.property(arbitraries.byKind[kind], (message: SignedMessage) => {
        const original = hex(signBytes(message, cluster));
        for (const [name, mutate] of Object.entries(mutators[kind] as Record<string, Mutator<SignedKind>>)) {
          const changed = mutate(message as MessageOf<SignedKind>);
          if (changed === null) continue;
          assert.notEqual(hex(signBytes(changed, cluster)), original, name);
        }
        // The outer signature is the one thing sign-bytes do not cover.
        assert.equal(hex(signBytes({ ...message, signature: flip(message.signature) }, cluster)), original);
      }),
      { seed, numRuns },
    );
  });
}

/** The message with its outer signature and a PRE-PREPARE's batch removed: what sign-bytes cover. */
function signedContent(message: SignedMessage): string {
  const stripped = { ...message, signature: new Uint8Array([1]) } as SignedMessage;
  return hex(encodeMessage(stripped.kind === 'pre-prepare' ? { ...stripped, batch: null } : stripped));
}

test(`any two decodable messages that differ beyond the outer signature and a PRE-PREPARE's batch have different sign-bytes (seed ${seed})`, () => {
  // Flip one bit of a valid encoding; whatever still decodes is a message one field away.
  fc.assert(
    fc.property(arbitraries.signedMessage, fc.nat(), fc.nat({ max: 7 }), (message, at, bit) => {
      const bytes = encodeMessage(message);
      bytes[at % bytes.length] = (bytes[at % bytes.length] ?? 0) ^ (1 << bit);
      const result = decodeMessage(bytes, limits);
      // A flipped type byte may turn it into a REQUEST, which has no sign-bytes to compare.
      if (!result.ok || !isSignedKind(result.message)) return;
      const same = signedContent(result.message) === signedContent(message);
      assert.equal(hex(signBytes(result.message, cluster)) === hex(signBytes(message, cluster)), same);
    }),
    { seed, numRuns: numRuns * 3 },
  );
});

test(`PRE-PREPARE sign-bytes are the same with and without its batch (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.byKind['pre-prepare'], arbitraries.batch, (prePrepare, batch) => {
      const header = hex(signBytes({ ...prePrepare, batch: null }, cluster));
      assert.equal(hex(signBytes({ ...prePrepare, batch }, cluster)), header);
      assert.equal(hex(signBytes(prePrepare, cluster)), header);
    }),
    { seed, numRuns },
  );
});

test(`sign-bytes of a draft (no signature) equal those of the signed message (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.signedMessage, (message) => {
      const { signature: _signature, ...draft } = message;
      assert.equal(hex(signBytes(draft as Draft<SignedMessage>, cluster)), hex(signBytes(message, cluster)));
    }),
    { seed, numRuns },
  );
});

/** Every signed message inside `message` (not `message` itself), by walking the structure. */
function nestedSigned(message: Message): SignedMessage[] {
  switch (message.kind) {
    case 'view-change':
      return [
        ...message.checkpoint.proof,
        ...message.prepared.flatMap((certificate) => [certificate.prePrepare, ...certificate.prepares]),
      ];
    case 'new-view':
      return [
        ...message.viewChanges.flatMap((viewChange) => [viewChange, ...nestedSigned(viewChange)]),
        ...message.prePrepares,
      ];
    case 'state-reply':
      return message.entries.flatMap((entry) => entry.commits);
    default:
      return [];
  }
}

const checkKey = (check: {
  replica: number;
  epoch: number;
  bytes: Uint8Array;
  signature: Uint8Array;
}): string => `${check.replica}@${check.epoch}:${hex(check.bytes)}:${hex(check.signature)}`;

test(`signaturesOf(request) is empty: a REQUEST is not signed (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.byKind.request, (request) => {
      assert.deepEqual(signaturesOf(request, cluster), []);
    }),
    { seed, numRuns },
  );
});

for (const kind of SIGNED_KINDS) {
  test(`signaturesOf(${kind}) lists the outer check first, then exactly one per nested signed message, each over its own sign-bytes (seed ${seed})`, () => {
    fc.assert(
      fc.property(arbitraries.byKind[kind], (message: SignedMessage) => {
        const checks = signaturesOf(message, cluster);
        const nested = nestedSigned(message);
        assert.equal(checks.length, 1 + nested.length);
        assert.deepEqual(checks[0], {
          replica: message.replica,
          epoch: message.epoch,
          bytes: signBytes(message, cluster),
          signature: message.signature,
        });
        const expected = nested.map((m) =>
          checkKey({
            replica: m.replica,
            epoch: m.epoch,
            bytes: signBytes(m, cluster),
            signature: m.signature,
          }),
        );
        assert.deepEqual(checks.slice(1).map(checkKey).sort(), expected.sort());
      }),
      { seed, numRuns: numRuns / 3 },
    );
  });
}

test(`signaturesOf a NEW-VIEW counts the outer signature, each VIEW-CHANGE, their CHECKPOINT proofs and prepared certificates, and the PRE-PREPAREs (seed ${seed})`, () => {
  fc.assert(
    fc.property(arbitraries.byKind['new-view'], (newView) => {
      let expected = 1 + newView.prePrepares.length;
      for (const viewChange of newView.viewChanges) {
        expected += 1 + viewChange.checkpoint.proof.length;
        for (const certificate of viewChange.prepared) expected += 1 + certificate.prepares.length;
      }
      assert.equal(signaturesOf(newView, cluster).length, expected);
    }),
    { seed, numRuns },
  );
});
