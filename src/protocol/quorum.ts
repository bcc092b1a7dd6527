/**
 * Quorum arithmetic for any number of replicas (Castro and Liskov 4.1, generalised).
 *
 * With n replicas, f = floor((n - 1) / 3) may be faulty. A quorum q must make any two quorums
 * intersect in at least one correct replica: 2q - n >= f + 1. The smallest such q is
 * ceil((n + f + 1) / 2), which is 2f + 1 when n = 3f + 1.
 */
import { ConfigError } from './errors.ts';

/** The number of faulty replicas n replicas tolerate. */
export function faultTolerance(replicaCount: number): number {
  return Math.floor((replicaCount - 1) / 3);
}

/** The smallest safe quorum for n replicas: the smallest q with 2q - n >= f + 1. */
export function safeQuorum(replicaCount: number): number {
  return Math.ceil((replicaCount + faultTolerance(replicaCount) + 1) / 2);
}

/** The quorum sizes a cluster of n replicas runs with. */
export interface QuorumSizes {
  readonly replicaCount: number;
  /** f: how many replicas may be faulty. */
  readonly faultTolerance: number;
  /** q: matching messages that make a certificate (prepared, committed, stable, new view). */
  readonly quorum: number;
  /** f + 1: enough messages that at least one comes from a correct replica. */
  readonly weakQuorum: number;
}

/**
 * The quorum sizes for n replicas and a configured threshold (a fraction of n, as in the first
 * design's `quorum_threshold: 0.67`). The quorum is ceil(threshold * n), and it must be safe
 * (at least {@link safeQuorum}) and live (at most n - f, so that f silent replicas cannot stop
 * progress). Anything else is refused with a ConfigError naming `field`.
 */
export function quorumSizes(
  replicaCount: number,
  threshold?: number,
  field = 'quorumThreshold',
): QuorumSizes {
  if (!Number.isInteger(replicaCount) || replicaCount < 1) {
    throw new ConfigError('replicaCount', `must be a positive integer, got ${replicaCount}`);
  }
  const f = faultTolerance(replicaCount);
  const minimum = safeQuorum(replicaCount);
  let quorum = minimum;
  if (threshold !== undefined) {
    if (!Number.isFinite(threshold) || threshold <= 0 || threshold > 1) {
      throw new ConfigError(field, `must be a fraction in (0, 1], got ${threshold}`);
    }
    // Round away the float noise in products such as 0.67 * 100 = 67.00000000000001.
    quorum = Math.ceil(Math.round(threshold * replicaCount * 1e9) / 1e9);
    if (quorum < minimum) {
      throw new ConfigError(
        field,
        `${threshold} of ${replicaCount} replicas gives a quorum of ${quorum}, below the safe quorum of ${minimum} ` +
          `(two quorums must share a correct replica while ${f} may be faulty)`,
      );
    }
    if (quorum > replicaCount - f) {
      throw new ConfigError(
        field,
        `${threshold} of ${replicaCount} replicas gives a quorum of ${quorum}, above ${replicaCount - f}: ` +
          `${f} faulty replicas could stop all progress`,
      );
    }
  }
  return { replicaCount, faultTolerance: f, quorum, weakQuorum: f + 1 };
}
