/**
 * Builds the engine's detector: the Byzantine detector of `src/byzantine` behind the
 * {@link EngineDetector} adapter, or the null detector when detection is disabled.
 */
import {
  ByzantineDetector,
  type DetectorOptions,
  type Evidence,
  type EvidenceContext,
} from '../byzantine/index.ts';
import { ConfigError, type Input, type Message, type Ready, type ReplicaId } from '../protocol/index.ts';
import { type EngineDetector, nullDetector } from './detector.ts';

/** The detector's figures a `BftConfig` may set (reputation in integer tenths, time in ticks). */
export type ByzantineOptions = Omit<DetectorOptions, 'replicaCount' | 'self' | 'verification'>;

class DetectorAdapter implements EngineDetector {
  readonly #detector: ByzantineDetector;
  /** The last counts read, and how many violations they covered: read again only when more were recorded. */
  #violations: Readonly<Record<string, number>> = {};
  #violationsRead = -1;

  constructor(detector: ByzantineDetector) {
    this.#detector = detector;
  }

  invalidSignature(replica: ReplicaId, message: Message): readonly ReplicaId[] {
    const before = this.#detector.isBanned(replica);
    this.#detector.detectInvalidSignature(replica, message);
    return !before && this.#detector.isBanned(replica) ? [replica] : [];
  }

  malformed(replica: ReplicaId, reason: string): readonly ReplicaId[] {
    const before = this.#detector.isBanned(replica);
    this.#detector.detectMalformed(replica, reason);
    return !before && this.#detector.isBanned(replica) ? [replica] : [];
  }

  recordStep(input: Input, ready: Ready): readonly ReplicaId[] {
    return this.#detector.recordStep(input, ready);
  }

  participated(replica: ReplicaId): void {
    this.#detector.recordParticipation(replica);
  }

  tick(): readonly ReplicaId[] {
    return this.#detector.tick();
  }

  isBanned(replica: ReplicaId): boolean {
    return this.#detector.isBanned(replica);
  }

  reputation(replica: ReplicaId): number {
    return this.#detector.getReputation(replica);
  }

  violations(): Readonly<Record<string, number>> {
    const recorded = this.#detector.violationsRecorded;
    if (recorded !== this.#violationsRead) {
      this.#violations = this.#detector.stats().violations;
      this.#violationsRead = recorded;
    }
    return this.#violations;
  }

  evidence(): readonly Evidence[] {
    return this.#detector.evidence();
  }
}

/**
 * The detector for replica `self` of `replicaCount`, with `figures` from the configuration.
 * `verification` lets it turn a relayed forgery into evidence (it re-checks the failed
 * message's signatures synchronously, once per offence, before the offender is banned).
 *
 * @throws ConfigError naming the field as `byzantine.<field>`.
 */
export function createDetector(
  options: {
    readonly replicaCount: number;
    readonly self: ReplicaId;
    readonly verification: EvidenceContext;
    readonly figures?: ByzantineOptions;
  } | null,
): EngineDetector {
  if (options === null) return nullDetector;
  try {
    return new DetectorAdapter(
      new ByzantineDetector({
        ...options.figures,
        replicaCount: options.replicaCount,
        self: options.self,
        verification: options.verification,
      }),
    );
  } catch (error) {
    if (error instanceof ConfigError) {
      throw new ConfigError(`byzantine.${error.field}`, error.message.slice(error.field.length + 2));
    }
    throw error;
  }
}
