/**
 * Evidence: anyone holding the public keys can check it, a tampered copy does not pass, and
 * checking never throws whatever the object. Also the exclusions that keep honest replicas
 * from being proven guilty (re-signed NEW-VIEWs, rebuilt VIEW-CHANGEs).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  ByzantineDetector,
  type Evidence,
  type EvidenceContext,
  verifyEvidence,
} from '../../src/byzantine/index.ts';
import { insecureSimulationScheme, mlDsa87, type SignatureScheme } from '../../src/crypto/index.ts';
import {
  batchDigest,
  type Checkpoint,
  type Commit,
  type Draft,
  genesisDigest,
  isSignedKind,
  type Message,
  type NewView,
  type PrePrepare,
  type Prepare,
  type SignedMessage,
  UNSIGNED,
  type ViewChange,
} from '../../src/protocol/index.ts';
import { decodeLimitsFor, decodeMessage, encodeMessage } from '../../src/wire/index.ts';
import { vertices } from '../support/cluster.ts';
import { CLUSTER_ID, contextFor, keyPairOf, signReally } from './support.ts';

/** The fast-check seed of every property here; set FC_SEED to replay a failure. */
const seed = Number(process.env.FC_SEED ?? 20261124);
const numRuns = Number(process.env.FC_RUNS ?? 300);

const N = 4;
const digestOf = (label: string) => batchDigest(vertices(1, label));
const GENESIS = genesisDigest(CLUSTER_ID);

/** Messages for every kind of evidence, signed with `scheme`. */
function messagesFor(scheme: SignatureScheme) {
  const sign = <M extends Message>(draft: Draft<M>, replica: number) => signReally<M>(draft, replica, scheme);
  const x = digestOf('x');
  const y = digestOf('y');
  const vote = <K extends 'prepare' | 'commit'>(kind: K, replica: number, digest: Uint8Array) =>
    sign<Extract<Message, { kind: K }>>(
      { kind, epoch: 0, view: 0, sequence: 3, digest, replica } as Draft<Extract<Message, { kind: K }>>,
      replica,
    );
  const prePrepare = (digest: Uint8Array, view = 0, replica = 0) =>
    sign<PrePrepare>(
      { kind: 'pre-prepare', epoch: 0, view, sequence: 3, digest, batch: null, replica },
      replica,
    );
  const checkpoint = (stateDigest: Uint8Array) =>
    sign<Checkpoint>({ kind: 'checkpoint', epoch: 0, sequence: 16, stateDigest, replica: 2 }, 2);
  const viewChange = (replica: number, prepared: ViewChange['prepared'] = []) =>
    sign<ViewChange>(
      {
        kind: 'view-change',
        epoch: 0,
        view: 1,
        checkpoint: { sequence: 0, stateDigest: GENESIS, proof: [] },
        prepared,
        replica,
      },
      replica,
    );
  const newView = (digest: Uint8Array, viewChanges: ViewChange[] = [0, 2, 3].map((r) => viewChange(r))) =>
    sign<NewView>(
      {
        kind: 'new-view',
        epoch: 0,
        view: 1,
        viewChanges,
        prePrepares: [
          {
            kind: 'pre-prepare',
            epoch: 0,
            view: 1,
            sequence: 1,
            digest,
            batch: null,
            replica: 1,
            signature: UNSIGNED,
          },
        ],
        replica: 1,
      },
      1,
    );
  const forged = (replica: number) => new Uint8Array(scheme.signatureBytes).fill(replica + 7);
  const forgedPrepare: Prepare = {
    kind: 'prepare',
    epoch: 0,
    view: 0,
    sequence: 3,
    digest: x,
    replica: 2,
    signature: forged(2),
  };
  return { x, y, vote, prePrepare, checkpoint, viewChange, newView, forged, forgedPrepare, sign };
}

/** One piece of valid evidence of every shape the detector produces. */
function evidenceCases(
  scheme: SignatureScheme,
  m: ReturnType<typeof messagesFor> = messagesFor(scheme),
): { name: string; evidence: Evidence }[] {
  const d = new ByzantineDetector({ replicaCount: N, self: 1, verification: contextFor(scheme, N) });
  const cases: { name: string; evidence: Evidence | null }[] = [
    { name: 'pre-prepare', evidence: d.detectEquivocation(m.prePrepare(m.x), m.prePrepare(m.y)) },
    { name: 'prepare', evidence: d.detectEquivocation(m.vote('prepare', 2, m.x), m.vote('prepare', 2, m.y)) },
    { name: 'commit', evidence: d.detectEquivocation(m.vote('commit', 3, m.x), m.vote('commit', 3, m.y)) },
    { name: 'checkpoint', evidence: d.detectEquivocation(m.checkpoint(m.x), m.checkpoint(m.y)) },
    { name: 'new-view', evidence: d.detectEquivocation(m.newView(m.x), m.newView(m.y)) },
    {
      name: 'view-change vouching for a forged prepared certificate',
      evidence: d.detectInvalidSignature(
        3,
        m.viewChange(3, [{ prePrepare: m.prePrepare(m.x), prepares: [m.forgedPrepare] }]),
      ),
    },
    {
      name: 'new-view carrying a forged view-change',
      evidence: d.detectInvalidSignature(
        1,
        m.newView(m.x, [m.viewChange(0), m.viewChange(2), { ...m.viewChange(3), signature: m.forged(3) }]),
      ),
    },
  ];
  return cases.map(({ name, evidence }) => {
    assert.ok(evidence !== null, `${name} is evidence`);
    return { name, evidence };
  });
}

test('evidence verifies with the public keys alone, and not with others (ML-DSA-87)', () => {
  const cases = evidenceCases(mlDsa87);
  // What a third party holds: raw public keys, and the messages as bytes on the wire.
  const context: EvidenceContext = {
    scheme: mlDsa87,
    publicKeys: Array.from({ length: N }, (_, r) =>
      mlDsa87.importPublicKey(keyPairOf(mlDsa87, r).publicKey.raw),
    ),
    clusterId: CLUSTER_ID,
  };
  const limits = decodeLimitsFor({
    replicaCount: N,
    maxSignatureBytes: mlDsa87.signatureBytes,
    batchCountMax: 16,
    batchBytesMax: 1 << 16,
    vertexPayloadBytesMax: 1024,
    vertexParentsMax: 4,
    watermarkWindow: 64,
    stateEntriesMax: 4,
    maxFrameBytes: 1 << 20,
  });
  const roundTrip = (message: SignedMessage): SignedMessage => {
    const decoded = decodeMessage(encodeMessage(message), limits);
    assert.ok(decoded.ok && isSignedKind(decoded.message));
    return decoded.message;
  };
  for (const { name, evidence } of cases) {
    const exported: Evidence =
      evidence.kind === 'equivocation'
        ? { ...evidence, first: roundTrip(evidence.first), second: roundTrip(evidence.second) }
        : { ...evidence, message: roundTrip(evidence.message) };
    assert.equal(verifyEvidence(exported, context), true, name);
    assert.equal(
      verifyEvidence(exported, { ...context, clusterId: 'another-cluster' }),
      false,
      `${name}: cluster`,
    );
    const shuffled = [...context.publicKeys].reverse();
    assert.equal(
      verifyEvidence(exported, { ...context, publicKeys: shuffled }),
      false,
      `${name}: other keys`,
    );
    assert.equal(
      verifyEvidence(exported, { ...context, publicKeys: context.publicKeys.map(() => undefined) }),
      false,
      `${name}: unknown keys`,
    );
  }
  const first = cases[0]!.evidence;
  assert.ok(first.kind === 'equivocation');
  const signature = first.first.signature.slice();
  signature[100]! ^= 1;
  assert.equal(verifyEvidence({ ...first, first: { ...first.first, signature } }, context), false);
});

/** Every place in an object tree a mutation can hit, as get and set on a clone. */
interface Leaf {
  readonly path: string;
  readonly parent: Record<string | number, unknown>;
  readonly key: string | number;
}

function leavesOf(root: unknown, path = 'evidence'): Leaf[] {
  const out: Leaf[] = [];
  if (typeof root !== 'object' || root === null || root instanceof Uint8Array) return out;
  const parent = root as Record<string | number, unknown>;
  for (const key of Object.keys(parent)) {
    const value = parent[key];
    const child = `${path}.${key}`;
    if (value instanceof Uint8Array || typeof value !== 'object' || value === null) {
      out.push({ path: child, parent, key });
    }
    out.push(...leavesOf(value, child));
  }
  return out;
}

const OTHER_STRINGS = [
  'pre-prepare',
  'prepare',
  'commit',
  'checkpoint',
  'view-change',
  'new-view',
  'equivocation',
  'invalid-signature',
  '',
];

/** Changes one leaf: one byte of a byte array, a number, or a string. Returns what it did. */
function mutate(leaf: Leaf, position: number, change: number): string | null {
  const value = leaf.parent[leaf.key];
  if (value instanceof Uint8Array) {
    if (value.length === 0) return null;
    const index = position % value.length;
    value[index]! ^= change;
    return `${leaf.path}[${index}] ^= ${change}`;
  }
  if (typeof value === 'number') {
    const next =
      position % 2 === 0 ? value + change : [-1, 0.5, Number.NaN, 2 ** 53, value - change][position % 5]!;
    if (Object.is(next, value)) return null;
    leaf.parent[leaf.key] = next;
    return `${leaf.path} = ${next}`;
  }
  if (typeof value === 'string') {
    const next = OTHER_STRINGS[position % OTHER_STRINGS.length]!;
    if (next === value) return null;
    leaf.parent[leaf.key] = next;
    return `${leaf.path} = '${next}'`;
  }
  return null;
}

const simulationMessages = messagesFor(insecureSimulationScheme);
const simulationCases = evidenceCases(insecureSimulationScheme, simulationMessages);
const simulationContext = contextFor(insecureSimulationScheme, N);

test('every piece of evidence the detector produces verifies', () => {
  for (const { name, evidence } of simulationCases) {
    assert.equal(verifyEvidence(evidence, simulationContext), true, name);
  }
});

test(`a tampered evidence object does not verify: any signed byte, number or kind changed (fast-check seed ${seed})`, () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...simulationCases),
      fc.nat(),
      fc.nat(),
      fc.integer({ min: 1, max: 255 }),
      ({ name, evidence }, leafChoice, position, change) => {
        const copy = structuredClone(evidence) as Evidence;
        const leaves = leavesOf(copy);
        const leaf = leaves[leafChoice % leaves.length]!;
        const what = mutate(leaf, position, change);
        fc.pre(what !== null);
        assert.equal(verifyEvidence(copy, simulationContext), false, `${name}: ${what}`);
      },
    ),
    { seed, numRuns },
  );
});

test(`tampered evidence does not verify: swapped replicas, swapped messages, non-conflicting pairs (fast-check seed ${seed})`, () => {
  // The same digests as the evidence, so that a replacement is either the message it replaces
  // (skipped) or one that does not make a conflicting pair with the message it stays with.
  const m = simulationMessages;
  const same = (a: Message, b: Message) => Buffer.from(encodeMessage(a)).equals(encodeMessage(b));
  const messages: SignedMessage[] = [
    m.prePrepare(m.x),
    m.vote('prepare', 2, m.x),
    m.vote('prepare', 3, m.y),
    m.vote('commit', 3, m.x),
    m.checkpoint(m.x),
    m.newView(m.x),
    m.viewChange(2),
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...simulationCases),
      fc.integer({ min: -2, max: N + 2 }),
      fc.constantFrom(...messages),
      fc.constantFrom('replica', 'first', 'second', 'same', 'message'),
      ({ name, evidence }, replica, other, where) => {
        let copy: Evidence;
        if (where === 'replica') {
          fc.pre(replica !== evidence.replica);
          copy = { ...evidence, replica };
        } else if (evidence.kind === 'equivocation') {
          if (where === 'same') copy = { ...evidence, second: evidence.first };
          else if (where === 'first') {
            fc.pre(!same(other, evidence.first));
            copy = { ...evidence, first: other };
          } else {
            fc.pre(!same(other, evidence.second));
            copy = { ...evidence, second: other };
          }
        } else {
          fc.pre(!same(other, evidence.message));
          copy = { ...evidence, message: other };
        }
        assert.equal(verifyEvidence(copy, simulationContext), false, `${name}: ${where}`);
      },
    ),
    { seed, numRuns },
  );
});

/** Every node of an object tree (not inside byte arrays), for replacing it. */
function nodesOf(root: unknown): Leaf[] {
  const out: Leaf[] = [];
  if (typeof root !== 'object' || root === null || root instanceof Uint8Array) return out;
  const parent = root as Record<string | number, unknown>;
  for (const key of Object.keys(parent)) {
    out.push({ path: key, parent, key });
    out.push(...nodesOf(parent[key]));
  }
  return out;
}

test(`verifyEvidence never throws on objects built from valid messages with fields swapped (fast-check seed ${seed})`, () => {
  // Replacements: parts of other valid evidence (taken from a separate clone, so no cycles),
  // and odd values of every type.
  const donors = structuredClone(simulationCases.map(({ evidence }) => evidence));
  const pool: unknown[] = [
    ...nodesOf(donors).map((node) => node.parent[node.key]),
    null,
    undefined,
    0,
    -1,
    Number.NaN,
    2 ** 64,
    '',
    'equivocation',
    [],
    {},
    new Uint8Array(0),
    new Uint8Array(5000),
    Symbol('x'),
    () => 1,
    10n,
  ];
  fc.assert(
    fc.property(
      fc.constantFrom(...simulationCases),
      fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 4 }),
      ({ evidence }, swaps) => {
        const copy = structuredClone(evidence) as unknown as Record<string, unknown>;
        for (const [nodeChoice, replacementChoice] of swaps) {
          const nodes = nodesOf(copy);
          if (nodes.length === 0) break;
          const node = nodes[nodeChoice % nodes.length]!;
          const replacement = pool[replacementChoice % pool.length];
          // A copy, so that no run changes the pool (or ties a cycle through it).
          node.parent[node.key] =
            typeof replacement === 'object' && replacement !== null
              ? structuredClone(replacement)
              : replacement;
        }
        const result = verifyEvidence(copy as unknown as Evidence, simulationContext);
        assert.equal(typeof result, 'boolean');
      },
    ),
    { seed, numRuns },
  );
  fc.assert(
    fc.property(fc.anything({ withTypedArray: true, withMap: true, withSet: true }), (anything) => {
      assert.equal(verifyEvidence(anything as Evidence, simulationContext), false);
      assert.equal(
        verifyEvidence(
          { kind: 'equivocation', replica: 1, first: anything, second: anything } as Evidence,
          simulationContext,
        ),
        false,
      );
      assert.equal(
        verifyEvidence(
          { kind: 'invalid-signature', replica: 1, message: anything } as Evidence,
          simulationContext,
        ),
        false,
      );
    }),
    { seed, numRuns },
  );
});

test('honest retransmissions are never equivocation', () => {
  const m = messagesFor(insecureSimulationScheme);
  const d = new ByzantineDetector({ replicaCount: N, self: 0 });
  // A restarted new primary sends its persisted NEW-VIEW again, its PRE-PREPAREs signed
  // afresh: ML-DSA signatures differ from one signing to the next, the content does not.
  const newView = m.newView(m.x);
  const resigned: NewView = {
    ...newView,
    prePrepares: newView.prePrepares.map((prePrepare) => ({ ...prePrepare, signature: m.forged(9) })),
  };
  assert.equal(d.detectEquivocation(newView, resigned), null);
  // A replica restarted while changing views rebuilds its VIEW-CHANGE from a newer checkpoint.
  const before = m.viewChange(2);
  const after: ViewChange = { ...before, checkpoint: { sequence: 16, stateDigest: m.x, proof: [] } };
  assert.equal(d.detectEquivocation(before, after), null);
  // A PRE-PREPARE with its batch and the same header without: one signed content.
  const batch = vertices(2, 'batch');
  const header = m.prePrepare(batchDigest(batch));
  assert.equal(d.detectEquivocation(header, { ...header, batch }), null);
  assert.equal(d.stats().violations.equivocation, 0);
  // Evidence keeps PRE-PREPAREs without their batch.
  const evidence = d.detectEquivocation({ ...header, batch }, m.prePrepare(m.y));
  assert.ok(evidence !== null && evidence.first.kind === 'pre-prepare');
  assert.equal(evidence.first.batch, null);
  assert.equal(verifyEvidence(evidence, simulationContext), true);
});

test('invalid signatures yield evidence only when the channel sender signed the outer message validly', () => {
  const m = messagesFor(insecureSimulationScheme);
  const d = new ByzantineDetector({ replicaCount: N, self: 0, verification: simulationContext });
  // The outer signature is broken: only the channel says who sent it.
  const commit = m.vote('commit', 3, m.x) as Commit;
  assert.equal(d.detectInvalidSignature(3, { ...commit, signature: m.forged(3) }), null);
  // A valid message relayed by someone else, with a forged nested signature: the relay did
  // not sign it, so it is not evidence against the relay (the violation is still recorded).
  const vouched = m.viewChange(2, [
    { prePrepare: m.prePrepare(m.x), prepares: [{ ...m.forgedPrepare, replica: 3 }] },
  ]);
  assert.equal(d.detectInvalidSignature(3, vouched), null);
  assert.equal(d.detectInvalidSignature(2, vouched)?.kind, 'invalid-signature');
  // Without verification configured, the violation is scored and nothing is proven.
  const blind = new ByzantineDetector({ replicaCount: N, self: 0 });
  assert.equal(blind.detectInvalidSignature(2, vouched), null);
  assert.equal(blind.getReputation(2), 0.9);
  assert.equal(d.stats().violations['invalid-signature'], 3);
  assert.equal(d.stats().evidence, 1);
});
