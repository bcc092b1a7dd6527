/**
 * The run's operator (`--reconfigure`): during the fault phase it changes the validator set one
 * to three times per fault window, each time from the newest epoch it knows of (the
 * directory's), by one of:
 *
 * - rotating a validator's key (the replica was given its next key in advance);
 * - moving the leader to the end of the order, which renumbers every validator;
 * - removing a validator, the leader included, while the epoch left keeps enough validators
 *   for the faults the run may still have (Byzantine members and damaged disks: see
 *   `removable`).
 *
 * It submits a request as a client submits a vertex, to a random replica, again every
 * `retryMs` until the epoch it changes is closed (by it or by another); a request built from an
 * epoch that closed meanwhile is stale and changes nothing. Some requests are submitted again
 * after they took effect, as a replay, which must change nothing either.
 */
import { toHex } from '../crypto/digest.ts';
import { createVertex } from '../protocol/index.ts';
import type { EventQueue } from './event-queue.ts';
import type { SimNode } from './node.ts';
import type { Prng } from './prng.ts';
import {
  type EpochDirectory,
  KEY_GENERATIONS,
  type SimMember,
  type SimRequest,
  simRequestPayload,
} from './reconfiguration.ts';
import { FAULT_WINDOW_MS } from './scenario.ts';

export interface OperatorOptions {
  readonly queue: EventQueue;
  readonly prng: Prng;
  readonly nodes: readonly SimNode[];
  readonly directory: EpochDirectory;
  readonly faultPhaseMs: number;
  readonly retryMs: number;
  /** The replicas' dedupHorizonSequences (a request is a vertex, valid for half of it). */
  readonly horizon: number;
  /** The highest sequence an honest replica finalized. */
  readonly highestFinalized: () => number;
  /** Replicas that may be faulty beyond crashes: Byzantine ones, and those whose disk is wiped. */
  readonly faulty: ReadonlySet<number>;
  /** Where every request vertex submitted goes (hex hash): they are proposals, for validity. */
  readonly proposed: Set<string>;
}

/** What the operator did in a run. */
export interface OperatorCounts {
  requests: number;
  replays: number;
  rotations: number;
  reorders: number;
  removals: number;
  /** Of the removals, those of a Byzantine replica or one whose disk is damaged. */
  faultyRemovals: number;
}

export class Operator {
  readonly counts: OperatorCounts = {
    requests: 0,
    replays: 0,
    rotations: 0,
    reorders: 0,
    removals: 0,
    faultyRemovals: 0,
  };
  readonly #options: OperatorOptions;

  constructor(options: OperatorOptions) {
    this.#options = options;
  }

  /**
   * Schedules the changes: one to three in each fault window (`FAULT_WINDOW_MS`), so that a long
   * run changes its validators throughout, as often as a short one does.
   */
  start(): void {
    const { queue, prng, faultPhaseMs } = this.#options;
    for (let from = 0; from < faultPhaseMs; from += FAULT_WINDOW_MS) {
      const length = Math.min(FAULT_WINDOW_MS, faultPhaseMs - from);
      const changes = 1 + prng.int(3);
      for (let i = 0; i < changes; i++) queue.schedule(from + prng.int(length), () => this.#change());
    }
  }

  #change(): void {
    const { directory, prng } = this.#options;
    const epoch = directory.latest;
    const members = this.#nextMembers(epoch.members);
    const request = { from: epoch.number, members };
    this.counts.requests++;
    this.#submitUntilClosed(request, prng.chance(1 / 3));
  }

  #nextMembers(members: readonly SimMember[]): SimMember[] {
    const { prng } = this.#options;
    const next = [...members];
    const removable = next.filter((member) => this.#removable(next, member.replica));
    const rotatable = next.filter((member) => member.generation < KEY_GENERATIONS - 1);
    const choices = [
      ...(removable.length > 0 ? ['remove'] : []),
      ...(rotatable.length > 0 ? ['rotate'] : []),
      'reorder',
    ];
    switch (prng.pick(choices)) {
      case 'remove': {
        // Half the time a faulty one, as an operator removes a misbehaving validator; a removed
        // Byzantine replica goes on sending (see `stale-member.ts`).
        const faulty = removable.filter((member) => this.#options.faulty.has(member.replica));
        const gone = prng.pick(faulty.length > 0 && prng.chance(0.5) ? faulty : removable).replica;
        this.counts.removals++;
        if (this.#options.faulty.has(gone)) this.counts.faultyRemovals++;
        return next.filter((member) => member.replica !== gone);
      }
      case 'rotate': {
        const { replica } = prng.pick(rotatable);
        this.counts.rotations++;
        return next.map((member) =>
          member.replica === replica ? { replica, generation: member.generation + 1 } : member,
        );
      }
      default:
        this.counts.reorders++;
        return [...next.slice(1), next[0]!];
    }
  }

  /**
   * Whether `replica` may leave `members`: at least four stay, and the faulty replicas that stay
   * are no more than the f of what stays.
   */
  #removable(members: readonly SimMember[], replica: number): boolean {
    const staying = members.filter((member) => member.replica !== replica);
    if (staying.length < 4) return false;
    const faulty = staying.filter((member) => this.#options.faulty.has(member.replica)).length;
    return faulty <= Math.floor((staying.length - 1) / 3);
  }

  /** Offers the request to random replicas every `retryMs` until epoch `from` has closed. */
  #submitUntilClosed(request: SimRequest, replay: boolean): void {
    const { queue, retryMs, directory } = this.#options;
    const payload = simRequestPayload(request);
    const offer = (): void => {
      if (directory.latest.number > request.from) {
        // The same request again, as a new vertex, after its epoch closed.
        if (replay) {
          this.counts.replays++;
          this.#offer(simRequestPayload(request, 'replay'));
        }
        return;
      }
      this.#offer(payload);
      queue.schedule(retryMs, offer);
    };
    offer();
  }

  #offer(payload: Uint8Array): void {
    const { nodes, prng, horizon, highestFinalized } = this.#options;
    const vertex = createVertex(payload, {
      validThrough: highestFinalized() + Math.floor(horizon / 2),
    });
    this.#options.proposed.add(toHex(vertex.hash));
    const accepted = nodes[prng.int(nodes.length)]!.accept(vertex);
    // A refusal (a node down, stopping or no longer a validator) is retried by the schedule.
    accepted?.then(
      ({ final }) => final.catch(() => undefined),
      () => undefined,
    );
  }
}
