/**
 * The finalized streams as an application sees them: every honest replica's `finalized`
 * events, checked against what its clients were told. Each vertex appears in a replica's stream
 * at most once (a restart does not repeat it; a wiped replica's stream starts over), and every
 * `propose()` that resolved (here: the `final` of `accept`) at an honest replica names the
 * sequence and position at which the vertex appears in the stream of every honest replica.
 */
import { toHex } from '../crypto/digest.ts';
import type { FinalizedVertex } from '../engine/index.ts';
import type { Resolution } from './clients.ts';

interface Place {
  readonly sequence: number;
  readonly position: number;
}

export class StreamChecker {
  /** Per replica, where each vertex appeared in its stream (since its last wipe). */
  readonly #streams: Map<string, Place>[];
  readonly #violate: (message: string) => void;

  constructor(replicaCount: number, violate: (message: string) => void) {
    this.#streams = Array.from({ length: replicaCount }, () => new Map());
    this.#violate = violate;
  }

  /** A `finalized` event of an honest replica. */
  finalized(replica: number, vertex: FinalizedVertex): void {
    const key = toHex(vertex.hash);
    const stream = this.#streams[replica]!;
    const earlier = stream.get(key);
    if (earlier !== undefined) {
      this.#violate(
        `stream: replica ${replica} emitted vertex ${key.slice(0, 12)} at ${vertex.sequence}/${vertex.position} after ${earlier.sequence}/${earlier.position}`,
      );
      return;
    }
    stream.set(key, { sequence: vertex.sequence, position: vertex.position });
  }

  /** `replica`'s disk was wiped: its stream starts over. */
  wiped(replica: number): void {
    this.#streams[replica] = new Map();
  }

  /** Checks each resolution against the streams of `replicas`; returns how many it checked. */
  check(resolutions: readonly Resolution[], replicas: readonly number[]): number {
    for (const { replica: resolvedAt, key, sequence, position } of resolutions) {
      for (const replica of replicas) {
        const place = this.#streams[replica]!.get(key);
        if (place === undefined || place.sequence !== sequence || place.position !== position) {
          this.#violate(
            `stream: propose() at replica ${resolvedAt} resolved with ${sequence}/${position} for vertex ${key.slice(0, 12)}, ` +
              `but replica ${replica}'s stream has it ${place === undefined ? 'nowhere' : `at ${place.sequence}/${place.position}`}`,
          );
          return resolutions.length;
        }
      }
    }
    return resolutions.length;
  }
}
