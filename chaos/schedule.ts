/**
 * The fault schedule, drawn from the seed. Faults run in two lanes:
 *
 * - the process lane (kill, kill-leader, stop-leader, two-down, wipe) runs one fault at a time,
 *   and a fault ends only once the nodes it took down are back and caught up, so that at most
 *   f nodes are down or catching up at once (two-down takes two of four on purpose);
 * - the network lane (delay, loss) acts on the consensus links through the proxies and may
 *   overlap a process fault, as a slow network does.
 *
 * Each lane draws from its own generator, and every draw of a fault is made whatever the
 * cluster's state (a victim index is drawn even for a fault that will pick the leader), so a
 * seed gives the same sequence of kinds, victims, durations and gaps in every run. Only the
 * moments slip with the cluster: a lane waits for its previous fault to end.
 */
import type { Prng } from '../src/sim/prng.ts';
import { type FaultKind, NETWORK_FAULTS, PROCESS_FAULTS } from './options.ts';

/** A fault of the process lane, with its seeded figures. */
export type ProcessFaultSpec =
  | {
      readonly kind: 'kill';
      readonly gapMs: number;
      readonly victim: number;
      readonly downMs: number;
    }
  | { readonly kind: 'kill-leader'; readonly gapMs: number; readonly downMs: number }
  | { readonly kind: 'stop-leader'; readonly gapMs: number; readonly pauseMs: number }
  | {
      readonly kind: 'two-down';
      readonly gapMs: number;
      readonly victims: readonly [number, number];
      readonly downMs: number;
    }
  | {
      readonly kind: 'wipe';
      readonly gapMs: number;
      /** Which of the backups (the nodes that are not the leader), in index order. */
      readonly backupChoice: number;
      readonly downMs: number;
    };

/** A fault of the network lane: applied to every proxied link for a window. */
export type NetworkFaultSpec =
  | {
      readonly kind: 'delay';
      readonly gapMs: number;
      readonly windowMs: number;
      /** Each proxy's delay (it carries the connections its node accepts). */
      readonly baseDelayMs: readonly number[];
      /** Up to this much more per chunk; order is kept. */
      readonly jitterMs: number;
    }
  | {
      readonly kind: 'loss';
      readonly gapMs: number;
      readonly windowMs: number;
      /** Each proxied connection is reset at this mean rate during the window. */
      readonly resetsPerSecond: number;
    };

/** Bounds of the drawn figures, in one place so that the README and the code agree. */
export const SCHEDULE_BOUNDS = Object.freeze({
  processGapMs: [1000, 4000],
  killDownMs: [500, 3000],
  /** Longer than a kill: about half the time past the 2 s view-change timeout. */
  killLeaderDownMs: [1000, 4000],
  stopLeaderPauseMs: [3000, 5000],
  twoDownMs: [2000, 5000],
  wipeDownMs: [500, 2000],
  networkGapMs: [2000, 6000],
  networkWindowMs: [3000, 6000],
  delayBaseMs: [20, 300],
  delayJitterMs: [0, 50],
  /** Tenths of a reset per second per connection. */
  lossResetTenthsPerSecond: [5, 20],
} as const);

function draw(prng: Prng, [low, high]: readonly [number, number]): number {
  return prng.between(low, high);
}

/** The next fault of the process lane, or null when no process fault is enabled. */
export function nextProcessFault(
  prng: Prng,
  enabled: readonly FaultKind[],
  nodes: number,
): ProcessFaultSpec | null {
  const kinds = PROCESS_FAULTS.filter((kind) => enabled.includes(kind));
  if (kinds.length === 0) return null;
  const kind = prng.pick(kinds);
  const gapMs = draw(prng, SCHEDULE_BOUNDS.processGapMs);
  switch (kind) {
    case 'kill':
      return { kind, gapMs, victim: prng.int(nodes), downMs: draw(prng, SCHEDULE_BOUNDS.killDownMs) };
    case 'kill-leader':
      return { kind, gapMs, downMs: draw(prng, SCHEDULE_BOUNDS.killLeaderDownMs) };
    case 'stop-leader':
      return { kind, gapMs, pauseMs: draw(prng, SCHEDULE_BOUNDS.stopLeaderPauseMs) };
    case 'two-down': {
      const first = prng.int(nodes);
      const second = (first + 1 + prng.int(nodes - 1)) % nodes;
      return { kind, gapMs, victims: [first, second], downMs: draw(prng, SCHEDULE_BOUNDS.twoDownMs) };
    }
    case 'wipe':
      return {
        kind,
        gapMs,
        backupChoice: prng.int(nodes - 1),
        downMs: draw(prng, SCHEDULE_BOUNDS.wipeDownMs),
      };
    default:
      throw new Error(`${kind} is not a process fault`);
  }
}

/** The next fault of the network lane, or null when no network fault is enabled. */
export function nextNetworkFault(
  prng: Prng,
  enabled: readonly FaultKind[],
  nodes: number,
): NetworkFaultSpec | null {
  const kinds = NETWORK_FAULTS.filter((kind) => enabled.includes(kind));
  if (kinds.length === 0) return null;
  const kind = prng.pick(kinds);
  const gapMs = draw(prng, SCHEDULE_BOUNDS.networkGapMs);
  const windowMs = draw(prng, SCHEDULE_BOUNDS.networkWindowMs);
  switch (kind) {
    case 'delay':
      return {
        kind,
        gapMs,
        windowMs,
        baseDelayMs: Array.from({ length: nodes }, () => draw(prng, SCHEDULE_BOUNDS.delayBaseMs)),
        jitterMs: draw(prng, SCHEDULE_BOUNDS.delayJitterMs),
      };
    case 'loss':
      return {
        kind,
        gapMs,
        windowMs,
        resetsPerSecond: draw(prng, SCHEDULE_BOUNDS.lossResetTenthsPerSecond) / 10,
      };
    default:
      throw new Error(`${kind} is not a network fault`);
  }
}

/** Whether the run needs proxies on its consensus links. */
export function needsProxies(enabled: readonly FaultKind[]): boolean {
  return NETWORK_FAULTS.some((kind) => enabled.includes(kind));
}
