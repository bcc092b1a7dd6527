/**
 * What the engine lets a simulator or a test see and, for tests only, replace.
 *
 * - {@link EngineProbe}: read-only hooks on what the core decided and what was delivered, for
 *   the simulator's checkers (verdicts, evidence, the finalized batches in order). They observe;
 *   they change nothing.
 * - {@link EngineTestSeams}: FOR TESTS ONLY. Replacements for parts of the engine, so that a
 *   test can build a deliberately broken engine (a vote sent before the write that records it
 *   is durable, votes sent out of order, a verify cache that answers for the wrong message, a
 *   quorum too small) and show that the simulator catches it, without editing shipped logic. A
 *   production engine never sets them.
 */
import type {
  AfterPersist,
  Delivery,
  Destination,
  DurableReceipt,
  Input,
  Message,
  Outbound,
  Ready,
  Released,
  ReplicaConfig,
} from '../protocol/index.ts';
import type { SignatureCheck } from '../wire/index.ts';
import type { OutboundOptions } from './outbound.ts';

/** Read-only hooks, called synchronously; a hook must not call back into the engine. */
export interface EngineProbe {
  /** After each step of the core: its input, everything it produced, and the epoch it was stepped in. */
  readonly stepped?: (input: Input, ready: Ready, epoch: number) => void;
  /** A finalized batch, delivered here once its writes are durable, in sequence order. */
  readonly delivered?: (delivery: Delivery) => void;
  /** A step's sealed effects, opened by the store's receipt: its messages go to the send queue in this order. */
  readonly released?: (released: Released) => void;
  /** A message leaving the send queue (signed), to the transport or, for this replica's own copy, to the core. */
  readonly sent?: (to: Destination, message: Message) => void;
}

/** The release queue as the engine uses it (see `shell/release-queue.ts`). */
export interface ReleaseQueuePart {
  push(sealed: AfterPersist<Released>): Released[];
  durable(receipt: DurableReceipt): Released[];
  /** Ordinal of the last durable write it was told of. */
  readonly durableThrough: number;
  readonly size: number;
}

/** The send queue as the engine uses it (see `outbound.ts`). */
export interface OutboundQueuePart {
  push(outbound: Outbound): void;
  close(): void;
  readonly size: number;
}

/**
 * FOR TESTS ONLY: parts of the engine replaced by deliberately broken ones. Each defaults to
 * the shipped part; never set one outside a test.
 */
export interface EngineTestSeams {
  /** Builds the queue that holds each step's sealed effects until its writes are durable. */
  readonly createReleaseQueue?: () => ReleaseQueuePart;
  /** Builds the queue that signs the core's drafts and sends them in the order produced. */
  readonly createOutboundQueue?: (options: OutboundOptions) => OutboundQueuePart;
  /** The verify cache's key for one signature check (the shipped key covers signer, bytes and signature). */
  readonly verifyCacheKey?: (check: SignatureCheck) => string;
  /** Rewrites the core's configuration after it was checked (an unsafe quorum, for example). */
  readonly alterReplicaConfig?: (config: ReplicaConfig) => ReplicaConfig;
}
