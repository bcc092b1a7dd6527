/**
 * Named load profiles of the simulator (`npm run sim -- --profile NAME`), so that a long run is
 * one word to ask for and one word to replay.
 *
 * - `default`: short seeds for every day, thousands a minute: 40 client payloads over six
 *   seconds of faults. They reach a few dozen sequences: far fewer than the dedup horizon, so a
 *   fault that needs hundreds of sequences (a vertex retried after its first copy left the
 *   horizon) cannot show in them.
 * - `long`: two minutes of faults, drawn throughout (see `FAULT_WINDOW_MS`), under 30,000
 *   client payloads (250 a second: batches of a dozen vertices and more, up to 64), with a
 *   128-sequence dedup horizon: a seed reaches about two thousand sequences, fifteen horizons,
 *   with crashes, failed syncs, partitions and view changes all along. A seed takes about 15
 *   seconds of CPU (`npm run sim:long -- --seeds N`).
 */
import type { BftConfig } from '../engine/index.ts';

export interface SimProfile {
  /** Client payloads submitted during the fault phase. */
  readonly vertices: number;
  readonly faultSeconds: number;
  /** Engine settings over the simulator's defaults. */
  readonly engine: Partial<BftConfig>;
}

export const SIM_PROFILES = Object.freeze({
  default: Object.freeze({ vertices: 40, faultSeconds: 6, engine: Object.freeze({}) }),
  long: Object.freeze({
    vertices: 30_000,
    faultSeconds: 120,
    // Room for a few seconds of the load at each replica: with the 24 a short seed may draw,
    // clients offering each payload to every replica fill every replica with the same 24, and
    // the cluster orders about one batch per client retry, far below the load.
    engine: Object.freeze({ dedupHorizonSequences: 128, batchMaxVertices: 64, pendingProposalsMax: 4096 }),
  }),
} as const satisfies Record<string, SimProfile>);

export type SimProfileName = keyof typeof SIM_PROFILES;

export function isSimProfileName(name: string): name is SimProfileName {
  return Object.hasOwn(SIM_PROFILES, name);
}
