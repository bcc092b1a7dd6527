/**
 * The engine's view of the Byzantine detector: what it reports to it and what it asks. The
 * detector itself (`src/byzantine`) is pure and deterministic; this adapter turns its answers
 * into "which replicas are newly banned", which the engine feeds to the core as `banned` inputs.
 * With detection disabled, a null detector scores nothing and bans nobody.
 */
import type { Evidence } from '../byzantine/index.ts';
import type { Input, Message, Ready, ReplicaId } from '../protocol/index.ts';

export interface EngineDetector {
  /** A message from `replica` carried a signature that does not verify. Returns the newly banned. */
  invalidSignature(replica: ReplicaId, message: Message): readonly ReplicaId[];
  /** A frame from `replica` did not decode. Returns the newly banned. */
  malformed(replica: ReplicaId, reason: string): readonly ReplicaId[];
  /** Learns from one step of the core (verdicts, evidence, suspicions). Returns the newly banned. */
  recordStep(input: Input, ready: Ready): readonly ReplicaId[];
  /**
   * `replica` sent a vote that was not checked, since its certificate did not need it
   * (`vote-gate.ts`): it takes part in quorums all the same.
   */
  participated(replica: ReplicaId): void;
  /** Time passes (suspicions decay, non-participation windows close). Returns the newly banned. */
  tick(): readonly ReplicaId[];
  isBanned(replica: ReplicaId): boolean;
  /** 0 to 1. */
  reputation(replica: ReplicaId): number;
  /** Violations recorded so far, by kind (cumulative); the same object for as long as none is added. */
  violations(): Readonly<Record<string, number>>;
  /** Provable evidence held (equivocations, relayed forgeries): anyone with the keys can check it. */
  evidence(): readonly Evidence[];
}

const NONE: readonly ReplicaId[] = Object.freeze([]);
const NONE_EVIDENCE: readonly Evidence[] = Object.freeze([]);
const NO_VIOLATIONS: Readonly<Record<string, number>> = Object.freeze({});

/** Detection disabled: nobody is scored or banned. */
export const nullDetector: EngineDetector = Object.freeze({
  invalidSignature: () => NONE,
  malformed: () => NONE,
  recordStep: () => NONE,
  participated: () => undefined,
  tick: () => NONE,
  isBanned: () => false,
  reputation: () => 1,
  violations: () => NO_VIOLATIONS,
  evidence: () => NONE_EVIDENCE,
});
