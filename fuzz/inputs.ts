/**
 * What the fuzzer feeds the cluster: frames from the Byzantine replica (random bytes, or
 * generated messages made plausible — claimed by the Byzantine replica, aimed at slots the
 * honest replicas are using, validly signed — then sometimes mutated), ticks and client
 * vertices, so that the honest replicas make progress while they are attacked.
 */
import fc from 'fast-check';
import { batchDigest, isSignedKind, MESSAGE_KINDS, type Message } from '../src/protocol/index.ts';
import { CONSENSUS_CONTEXT } from '../src/shell/signing.ts';
import { encodeMessage, signBytes } from '../src/wire/index.ts';
import { messageArbitraries } from '../test/support/arbitraries.ts';
import { BYZANTINE, byzantineIdentity, type FuzzCluster, limits, REPLICAS } from './cluster.ts';

const HONEST = Array.from({ length: REPLICAS }, (_, id) => id).filter((id) => id !== BYZANTINE);

interface Mutation {
  readonly kind: 'flip' | 'truncate' | 'splice';
  readonly at: number;
  readonly value: number;
}

export type FuzzInput =
  | { readonly kind: 'bytes'; readonly to: number; readonly bytes: Uint8Array }
  | {
      readonly kind: 'message';
      readonly to: number | 'all';
      readonly message: Message;
      readonly claimAsByzantine: boolean;
      /** Index into the cluster's recent honest messages whose slot to copy, if any. */
      readonly copySlot: number | null;
      readonly fixDigest: boolean;
      readonly resign: boolean;
      readonly mutations: readonly Mutation[];
    }
  | { readonly kind: 'tick'; readonly count: number }
  | { readonly kind: 'propose'; readonly to: number; readonly vertices: number };

export function fuzzInputArbitrary(): fc.Arbitrary<FuzzInput> {
  const messages = messageArbitraries({ limits, signatureBytes: 16, counterMax: 24, maxListLength: 3 });
  const honest = fc.constantFrom(...HONEST);
  const mutation: fc.Arbitrary<Mutation> = fc.record({
    kind: fc.constantFrom('flip', 'truncate', 'splice'),
    at: fc.nat(),
    value: fc.nat({ max: 255 }),
  });
  return fc.oneof(
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('bytes' as const),
        to: honest,
        bytes: fc.uint8Array({ maxLength: 600 }),
      }),
    },
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant('message' as const),
        to: fc.oneof(honest, fc.constant('all' as const)),
        message: messages.message,
        claimAsByzantine: fc.oneof(
          { weight: 3, arbitrary: fc.constant(true) },
          { weight: 1, arbitrary: fc.constant(false) },
        ),
        copySlot: fc.option(fc.nat({ max: 63 })),
        fixDigest: fc.boolean(),
        resign: fc.oneof(
          { weight: 9, arbitrary: fc.constant(true) },
          { weight: 1, arbitrary: fc.constant(false) },
        ),
        mutations: fc.oneof(
          { weight: 8, arbitrary: fc.constant([]) },
          { weight: 2, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) },
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constant('tick' as const), count: fc.integer({ min: 1, max: 15 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('propose' as const),
        to: honest,
        vertices: fc.integer({ min: 1, max: 6 }),
      }),
    },
  );
}

/** Applies one input to the cluster. Exceptions are failures: the caller reports them. */
export function applyInput(cluster: FuzzCluster, input: FuzzInput): void {
  switch (input.kind) {
    case 'bytes':
      cluster.frame(input.to, input.bytes);
      return;
    case 'tick':
      cluster.tick(input.count);
      return;
    case 'propose':
      cluster.propose(input.to, input.vertices);
      return;
    case 'message': {
      let message = input.message;
      if (input.claimAsByzantine) message = claimAs(message, BYZANTINE);
      if (input.copySlot !== null && cluster.recent.length > 0) {
        message = copySlot(message, cluster.recent[input.copySlot % cluster.recent.length]!);
      }
      if (input.fixDigest && message.kind === 'pre-prepare' && message.batch !== null) {
        message = { ...message, digest: batchDigest(message.batch) };
      }
      if (input.resign) message = resign(message);
      let bytes = encodeMessage(message);
      for (const mutation of input.mutations) bytes = mutate(bytes, mutation);
      for (const to of input.to === 'all' ? HONEST : [input.to]) cluster.frame(to, bytes);
      return;
    }
  }
}

const isMessage = (value: unknown): value is Message =>
  typeof value === 'object' &&
  value !== null &&
  'kind' in value &&
  (MESSAGE_KINDS as readonly string[]).includes((value as { kind: string }).kind) &&
  'signature' in value;

/** Rebuilds `value`, applying `visit` to every message, innermost first. */
function mapMessages(value: unknown, visit: (message: Message) => Message): unknown {
  if (Array.isArray(value)) return value.map((item) => mapMessages(item, visit));
  if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    // A batch's vertices carry their own hashes; they are data, not messages.
    out[key] = key === 'batch' || key === 'vertices' ? field : mapMessages(field, visit);
  }
  return isMessage(out) ? visit(out) : out;
}

/** The message and every nested one as if signed by `replica`. */
function claimAs(message: Message, replica: number): Message {
  return mapMessages(message, (inner) => ({ ...inner, replica }) as Message) as Message;
}

/** Every signature made valid with the Byzantine replica's key (it can sign only its own). */
function resign(message: Message): Message {
  const { scheme, privateKey, clusterId } = byzantineIdentity;
  return mapMessages(message, (inner) =>
    inner.replica === BYZANTINE && isSignedKind(inner)
      ? ({
          ...inner,
          signature: scheme.sign(privateKey, signBytes(inner, clusterId), CONSENSUS_CONTEXT),
        } as Message)
      : inner,
  ) as Message;
}

/** Aims `message` at the slot of a recent honest message: same view, sequence and digest where both have them. */
function copySlot(message: Message, model: Message): Message {
  const fields: Record<string, unknown> = {};
  for (const key of ['view', 'sequence', 'digest', 'stateDigest'] as const) {
    if (key in message && key in model) fields[key] = (model as unknown as Record<string, unknown>)[key];
  }
  // The next view, unless the model's is the last one a frame can carry (a Byzantine replica's
  // VIEW-TIMEOUT, relayed by honest ones, can name it).
  if (message.kind === 'view-change' && 'view' in model)
    fields.view = Math.min((model as { view: number }).view + 1, Number.MAX_SAFE_INTEGER);
  return { ...message, ...fields } as Message;
}

function mutate(bytes: Uint8Array, mutation: Mutation): Uint8Array {
  if (bytes.length === 0) return Uint8Array.of(mutation.value);
  const at = mutation.at % bytes.length;
  switch (mutation.kind) {
    case 'flip': {
      const copy = bytes.slice();
      copy[at] = copy[at]! ^ (1 << (mutation.value & 7));
      return copy;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'splice': {
      const copy = new Uint8Array(bytes.length + 1);
      copy.set(bytes.subarray(0, at));
      copy[at] = mutation.value;
      copy.set(bytes.subarray(at), at + 1);
      return copy;
    }
  }
}
