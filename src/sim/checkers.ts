/**
 * The properties every run must keep, checked as replicas deliver:
 *
 * - agreement: no two honest replicas finalize different batches (or deliver different
 *   vertices) at the same sequence;
 * - integrity: no honest replica delivers a vertex twice;
 * - validity: honest replicas deliver only vertices some client proposed (a Byzantine replica
 *   counts as a client: see `byzantineProposed`);
 * - order: each honest replica delivers sequences 1, 2, 3, ... without gaps;
 * - exactly once, over the whole run: every vertex is finalized at one place (sequence,
 *   position) only, and every client payload as one vertex at one place only, whichever honest
 *   replica delivers it and whenever: before or after a restart, a wipe and its replay, or a
 *   retry of a vertex that was final long before (a client submits a payload again, as a new
 *   vertex, only once the earlier one expired, so two final vertices of one payload are a
 *   double).
 *
 * A replica whose disk was wiped starts its history over and replays it from sequence 1: its
 * record starts over too (`wiped`), and what it replays is held to agreement and to the places
 * the run already saw, like the rest.
 *
 * Liveness (everything proposed is eventually delivered everywhere) is checked by the run
 * itself, once faults stop.
 */
import { toHex } from '../crypto/digest.ts';
import type { Delivery } from '../protocol/index.ts';

interface ReplicaRecord {
  lastSequence: number;
  readonly delivered: Set<string>;
  /** Of `delivered`, the clients' vertices (the run's liveness counts these). */
  clientDelivered: number;
}

/** Where a vertex was finalized: `position` in the batch at `sequence`. */
interface Place {
  readonly sequence: number;
  readonly position: number;
  readonly replica: number;
}

/** Where a client payload was finalized, and as which vertex. */
interface IntentPlace extends Place {
  readonly key: string;
}

export class SafetyChecker {
  readonly violations: string[] = [];
  /** What the first honest replica finalized at each sequence: digest and delivered vertices. */
  readonly #finalized = new Map<
    number,
    { readonly digest: string; readonly vertices: string; readonly replica: number }
  >();
  readonly #replicas: ReplicaRecord[];
  /** Every vertex an honest replica finalized in the run, by hash (hex): never forgotten. */
  readonly #places = new Map<string, Place>();
  /** Every client payload (hex) an honest replica finalized in the run: never forgotten. */
  readonly #intents = new Map<string, IntentPlace>();
  readonly #proposed: ReadonlySet<string>;
  readonly #byzantineProposed: { has(key: string): boolean };
  readonly #isHonest: (replica: number) => boolean;
  /** Violations kept per run; one broken run can otherwise report thousands. */
  static readonly VIOLATIONS_MAX = 20;

  /**
   * `proposed` holds the clients' vertices, `byzantineProposed` those Byzantine replicas made up
   * and forwarded themselves; both sets grow as the run goes.
   */
  constructor(
    replicaCount: number,
    proposed: ReadonlySet<string>,
    isHonest: (replica: number) => boolean,
    byzantineProposed: { has(key: string): boolean } = new Set(),
  ) {
    this.#replicas = Array.from({ length: replicaCount }, () => freshRecord());
    this.#proposed = proposed;
    this.#byzantineProposed = byzantineProposed;
    this.#isHonest = isHonest;
  }

  /** How many of the clients' vertices `replica` has delivered. */
  deliveredCount(replica: number): number {
    return this.#replicas[replica]!.clientDelivered;
  }

  /** `replica`'s disk was wiped: it replays the history from sequence 1. */
  wiped(replica: number): void {
    this.#replicas[replica] = freshRecord();
  }

  /** Whether `replica` has delivered the vertex with this hash. */
  hasDelivered(replica: number, key: string): boolean {
    return this.#replicas[replica]!.delivered.has(key);
  }

  /** Vertices finalized in the run, each held to its one place. */
  get verticesPlaced(): number {
    return this.#places.size;
  }

  /** The highest sequence finalized by any honest replica. */
  get highestSequence(): number {
    return this.#finalized.size;
  }

  delivered(replica: number, delivery: Delivery): string[] {
    if (!this.#isHonest(replica)) return [];
    const record = this.#replicas[replica]!;
    const keys = delivery.vertices.map((vertex) => toHex(vertex.hash));
    if (delivery.sequence !== record.lastSequence + 1) {
      this.#violate(
        `order: replica ${replica} delivered sequence ${delivery.sequence} after ${record.lastSequence}`,
      );
    }
    record.lastSequence = delivery.sequence;
    const digest = toHex(delivery.digest);
    const vertices = keys.join(',');
    const first = this.#finalized.get(delivery.sequence);
    if (first === undefined) {
      this.#finalized.set(delivery.sequence, { digest, vertices, replica });
    } else if (first.digest !== digest) {
      this.#violate(
        `agreement: sequence ${delivery.sequence} is ${first.digest.slice(0, 12)} at replica ${first.replica} ` +
          `but ${digest.slice(0, 12)} at replica ${replica}`,
      );
    } else if (first.vertices !== vertices) {
      this.#violate(
        `agreement: sequence ${delivery.sequence} delivered different vertices at ${first.replica} and ${replica}`,
      );
    }
    for (const [i, key] of keys.entries()) {
      if (record.delivered.has(key)) {
        this.#violate(`integrity: replica ${replica} delivered vertex ${key.slice(0, 12)} twice`);
      }
      record.delivered.add(key);
      const place: Place = { sequence: delivery.sequence, position: delivery.positions[i]!, replica };
      const earlier = this.#places.get(key);
      if (earlier === undefined) this.#places.set(key, place);
      else if (earlier.sequence !== place.sequence || earlier.position !== place.position)
        this.#violate(
          `exactly once: vertex ${key.slice(0, 12)} finalized at ${describePlace(earlier)} and at ${describePlace(place)}`,
        );
      if (this.#proposed.has(key)) {
        record.clientDelivered++;
        // A Byzantine replica may make a vertex of a client's payload, as anyone may: only the
        // clients' own vertices count here.
        const intent = toHex(delivery.vertices[i]!.payload);
        const first = this.#intents.get(intent);
        if (first === undefined) this.#intents.set(intent, { ...place, key });
        else if (first.key !== key)
          this.#violate(
            `exactly once: one client payload finalized as vertex ${first.key.slice(0, 12)} at ${describePlace(first)} ` +
              `and as vertex ${key.slice(0, 12)} at ${describePlace(place)}`,
          );
      } else if (!this.#byzantineProposed.has(key)) {
        this.#violate(
          `validity: replica ${replica} delivered vertex ${key.slice(0, 12)} that no client proposed`,
        );
      }
    }
    return keys;
  }

  violate(message: string): void {
    this.#violate(message);
  }

  #violate(message: string): void {
    if (this.violations.length < SafetyChecker.VIOLATIONS_MAX) this.violations.push(message);
  }
}

function freshRecord(): ReplicaRecord {
  return { lastSequence: 0, delivered: new Set<string>(), clientDelivered: 0 };
}

function describePlace(place: Place): string {
  return `${place.sequence}/${place.position} (replica ${place.replica})`;
}
