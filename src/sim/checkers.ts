/**
 * The properties every run must keep, checked as replicas deliver:
 *
 * - agreement: no two honest replicas finalize different batches (or deliver different
 *   vertices) at the same sequence;
 * - integrity: no honest replica delivers a vertex twice;
 * - validity: honest replicas deliver only vertices some client proposed (a Byzantine replica
 *   counts as a client: see `byzantineProposed`);
 * - order: each honest replica delivers sequences 1, 2, 3, ... without gaps;
 * - exactly once: no honest replica finalizes two client vertices of one payload (a client
 *   submits a payload again, as a new vertex, only once the earlier one expired).
 *
 * A replica whose disk was wiped starts its history over and replays it from sequence 1: its
 * record starts over too (`wiped`), and what it replays is held to agreement like the rest.
 *
 * Liveness (everything proposed is eventually delivered everywhere) is checked by the run
 * itself, once faults stop.
 */
import { toHex } from '../crypto/digest.ts';
import type { Delivery } from '../protocol/index.ts';

interface ReplicaRecord {
  lastSequence: number;
  readonly delivered: Set<string>;
  /** The payloads (hex) of the clients' vertices delivered: each intent is final once. */
  readonly intents: Set<string>;
  /** Of `delivered`, the clients' vertices (the run's liveness counts these). */
  clientDelivered: number;
}

export class SafetyChecker {
  readonly violations: string[] = [];
  /** What the first honest replica finalized at each sequence: digest and delivered vertices. */
  readonly #finalized = new Map<
    number,
    { readonly digest: string; readonly vertices: string; readonly replica: number }
  >();
  readonly #replicas: ReplicaRecord[];
  readonly #proposed: ReadonlySet<string>;
  readonly #byzantineProposed: ReadonlySet<string>;
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
    byzantineProposed: ReadonlySet<string> = new Set(),
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
      if (this.#proposed.has(key)) {
        record.clientDelivered++;
        // A Byzantine replica may make a vertex of a client's payload, as anyone may: only the
        // clients' own vertices count here.
        const intent = toHex(delivery.vertices[i]!.payload);
        if (record.intents.has(intent))
          this.#violate(`exactly once: replica ${replica} finalized a second vertex of one client payload`);
        record.intents.add(intent);
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
  return { lastSequence: 0, delivered: new Set<string>(), intents: new Set<string>(), clientDelivered: 0 };
}
