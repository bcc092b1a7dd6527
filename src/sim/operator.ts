/**
 * The run's operator (`--reconfigure`): during the fault phase it changes the validator set one
 * to three times per fault window, each time from the newest epoch it knows of (the
 * directory's), by one of:
 *
 * - rotating a validator's key (the replica was given its next key in advance);
 * - moving the leader to the end of the order, which renumbers every validator;
 * - removing a validator, the leader included, while the epoch left keeps enough validators
 *   for the faults the run may still have (Byzantine members and damaged disks: see
 *   `tolerates`);
 * - adding back an honest replica removed earlier, on a new machine: an empty disk and its next
 *   key, as a joiner (`src/protocol/learner.ts`);
 * - replacing an honest validator's machine: the same replica on an empty disk under its next
 *   key, or a replica removed earlier in its place, either one joining the next epoch.
 *
 * A machine is replaced once the request that adds it is ordered (the directory learns the epoch
 * it opens), while the others finish the epoch before: the old process stops, and the new one
 * fetches the whole history as a learner. Runs that prune their history make no joins: a joiner
 * needs every sequence from the first (there is no snapshot transfer yet).
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
  /** Whether machines may be added and replaced (not in runs that prune their history). */
  readonly joins: boolean;
}

/** A change the operator makes: the next epoch's members, and who joins it on a new machine. */
interface Change {
  readonly members: SimMember[];
  readonly joiner: number | null;
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
  /** Replicas removed earlier and added back on a new machine. */
  additions: number;
  /** Validators whose machine was replaced (by the same replica or one removed earlier). */
  replacements: number;
  /** New machines started as joiners (requests that took effect). */
  joined: number;
}

export class Operator {
  readonly counts: OperatorCounts = {
    requests: 0,
    replays: 0,
    rotations: 0,
    reorders: 0,
    removals: 0,
    faultyRemovals: 0,
    additions: 0,
    replacements: 0,
    joined: 0,
  };
  readonly #options: OperatorOptions;
  /** The newest key generation each replica was given in a request. */
  readonly #generations = new Map<number, number>();
  /** Joiners by replica: the epoch whose opening by `payload` (hex) starts their new machine. */
  readonly #joins = new Map<number, { readonly epoch: number; readonly payload: string }>();

  constructor(options: OperatorOptions) {
    this.#options = options;
    options.directory.onOpened((number, opening) => this.#opened(number, opening));
  }

  /**
   * An epoch was opened (its request was ordered, and the epoch before is being finished): a
   * joiner it names gets its new machine now, in an event of its own. The old process must stop
   * before it could reach the new epoch (it holds every key generation in the simulator), and
   * it cannot reach it sooner than the end of the epoch before, a round trip at least away.
   */
  #opened(number: number, opening: Uint8Array): void {
    const { queue, nodes } = this.#options;
    const opened = toHex(opening);
    for (const [replica, join] of this.#joins) {
      if (join.epoch !== number) continue;
      this.#joins.delete(replica);
      if (join.payload !== opened) continue;
      this.counts.joined++;
      queue.schedule(0, () => nodes[replica]!.rejoin!({ epoch: number, opening }));
    }
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
    const { members, joiner } = this.#nextMembers(epoch.members);
    for (const member of members)
      this.#generations.set(
        member.replica,
        Math.max(member.generation, this.#generations.get(member.replica) ?? 0),
      );
    const request = { from: epoch.number, members };
    this.counts.requests++;
    this.#submitUntilClosed(request, joiner, prng.chance(1 / 3));
  }

  #nextMembers(members: readonly SimMember[]): Change {
    const { prng, nodes, joins } = this.#options;
    const next = [...members];
    const removable = next.filter((member) =>
      this.#tolerates(next.filter((other) => other.replica !== member.replica)),
    );
    const rotatable = next.filter((member) => member.generation < KEY_GENERATIONS - 1);
    // A new machine only for an honest replica (a Byzantine one is not the operator's to trust
    // again), and one at a time.
    const machines = joins
      ? nodes.filter((node) => node.rejoin !== undefined && !this.#joins.has(node.id))
      : [];
    const outside = machines.filter((node) => !next.some((member) => member.replica === node.id));
    // The old machine stops as soon as the request is ordered, and the new one votes only from
    // the next epoch: until then the epoch must do without it, on top of its other faults.
    const replaceable = next.filter(
      (member) =>
        machines.some((node) => node.id === member.replica) &&
        this.#tolerates(next, new Set([...this.#options.faulty, member.replica])),
    );
    const choices = [
      ...(removable.length > 0 ? ['remove'] : []),
      ...(rotatable.length > 0 ? ['rotate'] : []),
      // Twice as likely as the others: only removals make room for it.
      ...(outside.length > 0 ? ['add', 'add'] : []),
      ...(replaceable.length > 0 ? ['replace'] : []),
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
        let staying = next.filter((member) => member.replica !== gone);
        // Now and then a second one at the same boundary: the vertices the two alone held must
        // still become final (they hand them over as they leave).
        const second = staying.filter((member) =>
          this.#tolerates(staying.filter((other) => other.replica !== member.replica)),
        );
        if (second.length > 0 && prng.chance(1 / 3)) {
          const also = prng.pick(second).replica;
          this.counts.removals++;
          if (this.#options.faulty.has(also)) this.counts.faultyRemovals++;
          staying = staying.filter((member) => member.replica !== also);
        }
        return { members: staying, joiner: null };
      }
      case 'rotate': {
        const { replica } = prng.pick(rotatable);
        this.counts.rotations++;
        const rotated = next.map((member) =>
          member.replica === replica ? { replica, generation: member.generation + 1 } : member,
        );
        return { members: rotated, joiner: null };
      }
      case 'add': {
        const replica = prng.pick(outside).id;
        const added = [...next];
        added.splice(prng.int(added.length + 1), 0, this.#newMachine(replica));
        if (!this.#tolerates(added)) break;
        this.counts.additions++;
        return { members: added, joiner: replica };
      }
      case 'replace': {
        const old = prng.pick(replaceable).replica;
        const replica = outside.length > 0 && prng.chance(0.5) ? prng.pick(outside).id : old;
        const replaced = next.map((member) => (member.replica === old ? this.#newMachine(replica) : member));
        if (!this.#tolerates(replaced)) break;
        this.counts.replacements++;
        return { members: replaced, joiner: replica };
      }
    }
    this.counts.reorders++;
    return { members: [...next.slice(1), next[0]!], joiner: null };
  }

  /** `replica` on a new machine: under a key it has not had yet, while generations last. */
  #newMachine(replica: number): SimMember {
    const generation = Math.min(KEY_GENERATIONS - 1, (this.#generations.get(replica) ?? 0) + 1);
    return { replica, generation };
  }

  /**
   * Whether an epoch of `members` tolerates the faults the run may still have: at least four
   * validators, and the faulty replicas among them no more than its f.
   */
  #tolerates(members: readonly SimMember[], faultyReplicas = this.#options.faulty): boolean {
    if (members.length < 4) return false;
    const faulty = members.filter((member) => faultyReplicas.has(member.replica)).length;
    return faulty <= Math.floor((members.length - 1) / 3);
  }

  /** Offers the request to random replicas every `retryMs` until epoch `from` has closed. */
  #submitUntilClosed(request: SimRequest, joiner: number | null, replay: boolean): void {
    const { queue, retryMs, directory } = this.#options;
    const payload = simRequestPayload(request);
    if (joiner !== null) this.#joins.set(joiner, { epoch: request.from + 1, payload: toHex(payload) });
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
