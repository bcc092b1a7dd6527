/**
 * What the simulator needs from a replica, honest or not, and what it offers one.
 */
import type { KeyPair, PublicKey, SignatureScheme } from '../crypto/index.ts';
import type {
  Delivery,
  EquivocationEvidence,
  ReplicaConfig,
  ReplicaEvent,
  Suspicion,
  Verdict,
  Vertex,
} from '../protocol/index.ts';
import type { DecodeLimits } from '../wire/index.ts';
import type { EventQueue } from './event-queue.ts';
import type { SimNetwork } from './network.ts';
import type { Prng } from './prng.ts';

/** A replica in the simulation. */
export interface SimNode {
  readonly id: number;
  /** False for a Byzantine replica: the checkers ignore what it finalizes. */
  readonly honest: boolean;
  readonly alive: boolean;
  receive(from: number, frame: Uint8Array): void;
  tick(): void;
  /** Offers client vertices; false when the replica refused them (full, down). */
  propose(vertices: readonly Vertex[]): boolean;
  crash(): void;
  restart(): void;
  /** One line on the replica's state, printed when a run stalls or breaks. */
  describe(): string;
  /** The view the replica is in and whether it is active there; null while it is down. */
  viewState(): { readonly view: number; readonly active: boolean } | null;
}

/** Receives what replicas do, for the checkers and the statistics. */
export interface SimObserver {
  delivered(replica: number, delivery: Delivery): void;
  verdict(replica: number, from: number, kind: string, verdict: Verdict): void;
  /**
   * A frame dropped unread: it failed to decode or to verify (blamed on the peer that sent
   * it), or it came from a peer this replica has banned.
   */
  dropped(replica: number, from: number, reason: 'malformed' | 'invalid-signature' | 'banned'): void;
  /** `replica`'s Byzantine detector has just banned `offender`. */
  banned(replica: number, offender: number): void;
  evidence(replica: number, evidence: EquivocationEvidence): void;
  suspicion(replica: number, suspicion: Suspicion): void;
  event(replica: number, event: ReplicaEvent): void;
  /** An honest replica hit a broken invariant and stopped: always a failure. */
  halted(replica: number, error: Error): void;
}

/** Everything shared by the replicas of one run. */
export interface SimContext {
  readonly queue: EventQueue;
  readonly network: SimNetwork;
  readonly prng: Prng;
  readonly scheme: SignatureScheme;
  readonly keys: readonly KeyPair[];
  readonly publicKeys: readonly PublicKey[];
  readonly limits: DecodeLimits;
  /** The protocol configuration of each replica. */
  readonly configs: readonly ReplicaConfig[];
  readonly observer: SimObserver;
  /** Virtual milliseconds a write takes to become durable, drawn per write batch. */
  readonly diskLatencyMs: readonly [number, number];
}
