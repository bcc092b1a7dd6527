/**
 * The detector's figures: every one configurable, every one checked, scores in integer tenths
 * so that the arithmetic is exact (1.0 - 7 x 0.1 is exactly 0.3 in tenths, not in floats).
 */
import { integerField } from '../protocol/errors.ts';
import { ConfigError, REPLICA_COUNT_MAX, type ReplicaId } from '../protocol/index.ts';
import type { EvidenceContext } from './evidence.ts';
import { VIOLATION_KINDS, type ViolationKind } from './violations.ts';

/** How the detector scores. Scores and penalties are integer tenths (10 is a reputation of 1.0). */
export interface DetectorOptions {
  /** Replicas in the cluster; ids outside [0, replicaCount) are ignored. */
  readonly replicaCount: number;
  /** This replica: never banned, never suspected by its own detector. */
  readonly self: ReplicaId;
  /** The reputation every replica starts with, in tenths. Default 10 (1.0). */
  readonly initialReputationTenths?: number;
  /** The reputation each violation costs, in tenths, per kind. Default 1 (0.1) each; 0 disables a kind. */
  readonly penaltyTenths?: Partial<Record<ViolationKind, number>>;
  /** A replica whose reputation is below this, in tenths, is banned. Default 3 (0.3); 0 bans nobody. */
  readonly banBelowTenths?: number;
  /** Ticks without a new suspicion for one tenth of suspicion to recover. Default 500. */
  readonly suspicionRecoveryTicks?: number;
  /**
   * The window, in ticks, after which a replica none of whose votes was accepted, while others'
   * were, is suspected of non-participation (once per window). Default 1000; 0 disables it.
   */
  readonly nonParticipationWindowTicks?: number;
  /**
   * The keys and cluster id, so that {@link ByzantineDetector.detectInvalidSignature} can check
   * whether a failed message proves its signer vouched for a forgery and return evidence.
   * Without it, invalid signatures are still scored but never produce evidence.
   */
  readonly verification?: EvidenceContext;
}

/** {@link DetectorOptions} with every default applied and every figure checked. */
export interface DetectorConfig {
  readonly replicaCount: number;
  readonly self: ReplicaId;
  readonly initialReputationTenths: number;
  readonly penaltyTenths: Readonly<Record<ViolationKind, number>>;
  readonly banBelowTenths: number;
  readonly suspicionRecoveryTicks: number;
  readonly nonParticipationWindowTicks: number;
  readonly verification: EvidenceContext | null;
}

/** The most reputation a replica can have, in tenths (a bound, so that sums stay small integers). */
export const REPUTATION_TENTHS_MAX = 1_000_000;

/** The longest tick interval the detector accepts (about 2^31, so counters stay exact). */
export const DETECTOR_TICKS_MAX = 2 ** 31;

const integerIn = integerField;

/**
 * Applies defaults and checks every field, throwing a {@link ConfigError} that names the
 * first field that is wrong.
 */
export function resolveDetectorConfig(options: DetectorOptions): DetectorConfig {
  const replicaCount = integerIn('replicaCount', options.replicaCount, undefined, 1, REPLICA_COUNT_MAX);
  const self = integerIn('self', options.self, undefined, 0, replicaCount - 1);
  const initialReputationTenths = integerIn(
    'initialReputationTenths',
    options.initialReputationTenths,
    10,
    1,
    REPUTATION_TENTHS_MAX,
  );
  const penalties = options.penaltyTenths ?? {};
  if (typeof penalties !== 'object' || penalties === null) {
    throw new ConfigError('penaltyTenths', 'must be an object mapping violation kinds to tenths');
  }
  for (const kind of Object.keys(penalties)) {
    if (!(VIOLATION_KINDS as readonly string[]).includes(kind)) {
      throw new ConfigError(
        `penaltyTenths.${kind}`,
        `is not a violation kind (${VIOLATION_KINDS.join(', ')})`,
      );
    }
  }
  const penaltyTenths = Object.freeze(
    Object.fromEntries(
      VIOLATION_KINDS.map((kind) => [
        kind,
        integerIn(`penaltyTenths.${kind}`, penalties[kind], 1, 0, initialReputationTenths),
      ]),
    ) as Record<ViolationKind, number>,
  );
  const banBelowTenths = integerIn('banBelowTenths', options.banBelowTenths, 3, 0, initialReputationTenths);
  const suspicionRecoveryTicks = integerIn(
    'suspicionRecoveryTicks',
    options.suspicionRecoveryTicks,
    500,
    1,
    DETECTOR_TICKS_MAX,
  );
  const nonParticipationWindowTicks = integerIn(
    'nonParticipationWindowTicks',
    options.nonParticipationWindowTicks,
    1000,
    0,
    DETECTOR_TICKS_MAX,
  );
  const verification = options.verification ?? null;
  if (verification !== null) {
    const { scheme, publicKeys, clusterId } = verification;
    if (typeof scheme !== 'object' || scheme === null || typeof scheme.verify !== 'function') {
      throw new ConfigError('verification.scheme', 'must be a SignatureScheme');
    }
    if (!Array.isArray(publicKeys) || publicKeys.length !== replicaCount) {
      throw new ConfigError('verification.publicKeys', `must list one entry per replica (${replicaCount})`);
    }
    if (typeof clusterId !== 'string' || clusterId.length === 0) {
      throw new ConfigError('verification.clusterId', 'must be a non-empty string');
    }
  }
  return {
    replicaCount,
    self,
    initialReputationTenths,
    penaltyTenths,
    banBelowTenths,
    suspicionRecoveryTicks,
    nonParticipationWindowTicks,
    verification,
  };
}
