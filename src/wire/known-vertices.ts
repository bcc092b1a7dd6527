/**
 * Vertices this replica has hashed already and expects to read again, so that the decoder can
 * take the object it has rather than copy and hash the same bytes a second time.
 *
 * A replica that holds a client vertex (its own client's, or a peer's in a REQUEST marked hold)
 * reads it again in the PRE-PREPARE that orders it. Hashing it there again, with the copy of
 * its payload and the objects that go with it, was a fifth of the holder's main thread at the
 * peak and most of what its collector kept (docs/benchmarks.md).
 *
 * The index is keyed by a cheap fingerprint of the vertex's bytes, not by its hash (which is
 * what reading the bytes is to spare). A candidate is taken only when every byte of its payload
 * and parents and its validThrough equal what the frame holds, so the vertex returned is the one
 * the bytes encode and its hash is the one this replica computed. A fingerprint that matches
 * another vertex, by chance or by a peer's design, costs the comparison and then the hashing
 * done without the index: never a wrong vertex.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';
import type { Vertex } from '../protocol/types.ts';

/** FNV-1a's step: folds one byte into a 32-bit fingerprint. */
function fold(h: number, byte: number): number {
  return Math.imul(h ^ byte, 0x01000193);
}

/**
 * A 32-bit fingerprint of every byte of a vertex's fields (FNV-1a), the same from a vertex and
 * from a frame's bytes. Every byte, not a sample: payloads are alike but for a counter or an id
 * in many applications (the load generator's too), and a sample that missed it made one
 * fingerprint of them all.
 */
function fingerprint(payload: Uint8Array, validThrough: number): number {
  let h = fold(0x811c9dc5 ^ validThrough, payload.length & 0xff);
  for (let i = 0; i < payload.length; i++) h = fold(h, payload[i]!);
  return h;
}

/** The fingerprint of a vertex this replica holds; exported for the tests, which need two alike. */
export function fingerprintOfVertex(vertex: Vertex): number {
  let h = fingerprint(vertex.payload, vertex.validThrough);
  for (const parent of vertex.parents) for (let i = 0; i < parent.length; i++) h = fold(h, parent[i]!);
  return h;
}

function fingerprintOfViews(payload: Uint8Array, parents: Uint8Array, validThrough: number): number {
  let h = fingerprint(payload, validThrough);
  for (let i = 0; i < parents.length; i++) h = fold(h, parents[i]!);
  return h;
}

/** Whether `a` equals the `a.length` bytes of `b` from `bOffset` on. */
function sameBytes(a: Uint8Array, b: Uint8Array, bOffset: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[bOffset + i]) return false;
  return true;
}

export class KnownVertices {
  readonly #byFingerprint = new Map<number, Vertex>();
  readonly #capacity: number;

  /**
   * @param capacity - the most vertices kept. Vertices leave when they are final (`forget`);
   *   one that never is (it expired, or the core refused it) would stay, so an index that reaches
   *   its capacity is emptied, and fills again with the vertices that come next.
   */
  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#byFingerprint.size;
  }

  /** Remembers `vertex`, hashed by this replica, to be read again. */
  add(vertex: Vertex): void {
    if (this.#byFingerprint.size >= this.#capacity) this.#byFingerprint.clear();
    this.#byFingerprint.set(fingerprintOfVertex(vertex), vertex);
  }

  /** Forgets `vertex` (it is final), unless another vertex took its fingerprint since. */
  forget(vertex: Vertex): void {
    if (this.#byFingerprint.size === 0) return;
    const key = fingerprintOfVertex(vertex);
    if (this.#byFingerprint.get(key) === vertex) this.#byFingerprint.delete(key);
  }

  /**
   * The known vertex whose fields are exactly these bytes: `payload`, the parent hashes one after
   * another in `parents`, and `validThrough`. Undefined when none is.
   */
  find(payload: Uint8Array, parents: Uint8Array, validThrough: number): Vertex | undefined {
    const parentCount = parents.length / DIGEST_BYTES;
    const candidate = this.#byFingerprint.get(fingerprintOfViews(payload, parents, validThrough));
    if (
      candidate === undefined ||
      candidate.validThrough !== validThrough ||
      candidate.payload.length !== payload.length ||
      candidate.parents.length !== parentCount ||
      !sameBytes(candidate.payload, payload, 0)
    )
      return undefined;
    for (let i = 0; i < parentCount; i++) {
      if (!sameBytes(candidate.parents[i]!, parents, i * DIGEST_BYTES)) return undefined;
    }
    return candidate;
  }
}
