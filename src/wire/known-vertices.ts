/**
 * Vertices this replica has hashed already and expects to read again, so that the decoder can
 * take the object it has rather than copy and hash the same bytes a second time.
 *
 * A replica that holds a client vertex (its own client's, or a peer's in a REQUEST marked hold)
 * reads it again in the PRE-PREPARE that orders it. Hashing it there again, with the copy of
 * its payload and the objects that go with it, was a large share of the holder's work and of
 * what its collector kept at the peak (figures in docs/benchmarks.md, History).
 *
 * The index is keyed by a cheap fingerprint of the vertex's bytes, not by its hash (which is
 * what reading the bytes is to spare). A candidate is taken only when every byte of its payload
 * and parents and its validThrough equal what the frame holds, so the vertex returned is the one
 * the bytes encode and its hash is the one this replica computed. A fingerprint that matches
 * another vertex, by chance or by a peer's design, costs the comparison and then the hashing
 * done without the index: never a wrong vertex.
 */
import { DIGEST_BYTES } from '../crypto/digest.ts';
import { type Vertex, vertexPayloadBytes } from '../protocol/types.ts';

/**
 * A 32-bit fingerprint of a vertex's payload, every byte of it, and its validThrough: the same
 * from a vertex and from a frame's bytes. Every byte, not a sample: payloads are alike but for a
 * counter or an id in many applications (the load generator's too), and a sample that missed it
 * made one fingerprint of them all. Four bytes a step of FNV-1a's multiply, where a byte a step
 * cost as much as the SHA-256 it is to spare. Parents are left out: the comparison checks them.
 */
function fingerprint(payload: Uint8Array, validThrough: number): number {
  let h = Math.imul(0x811c9dc5 ^ validThrough, 0x01000193) ^ payload.length;
  const length = payload.length;
  const whole = length & ~3;
  let i = 0;
  for (; i < whole; i += 4) {
    const word = payload[i]! | (payload[i + 1]! << 8) | (payload[i + 2]! << 16) | (payload[i + 3]! << 24);
    h = Math.imul(h ^ word, 0x01000193);
  }
  for (; i < length; i++) h = Math.imul(h ^ payload[i]!, 0x01000193);
  return h;
}

/** The fingerprint of a vertex this replica holds; exported for the tests, which need two alike. */
export function fingerprintOfVertex(vertex: Vertex): number {
  return fingerprint(vertex.payload, vertex.validThrough);
}

/** Whether `a` equals the `a.length` bytes of `b` from `bOffset` on. */
function sameBytes(a: Uint8Array, b: Uint8Array, bOffset: number): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[bOffset + i]) return false;
  return true;
}

/** Vertices this replica hashed and will read again, found by their bytes (see above). */
export class KnownVertices {
  readonly #byFingerprint = new Map<number, Vertex>();
  readonly #capacity: number;
  readonly #bytesMax: number;
  /** Payload and parent bytes of the vertices kept. */
  #bytes = 0;

  /**
   * @param capacity - the most vertices kept, and `bytesMax` the most payload and parent bytes.
   *   Vertices leave when read again (`take`); one that never is (it expired, the core refused
   *   it, or a faulty peer sent it to fill the index) would stay, so an index that reaches
   *   either bound is emptied, and fills again with the vertices that come next. The bytes bound
   *   is what a peer's REQUESTs can keep alive here: they are known as they are decoded, before
   *   the core applies its limits per peer.
   */
  constructor(capacity: number, bytesMax: number) {
    this.#capacity = capacity;
    this.#bytesMax = bytesMax;
  }

  /** Vertices kept now. */
  get size(): number {
    return this.#byFingerprint.size;
  }

  /** Remembers `vertex`, hashed by this replica, to be read again. */
  add(vertex: Vertex): void {
    const bytes = vertexPayloadBytes(vertex);
    if (this.#byFingerprint.size >= this.#capacity || this.#bytes + bytes > this.#bytesMax) {
      this.#byFingerprint.clear();
      this.#bytes = 0;
    }
    const key = fingerprintOfVertex(vertex);
    const replaced = this.#byFingerprint.get(key);
    if (replaced !== undefined) this.#bytes -= vertexPayloadBytes(replaced);
    this.#byFingerprint.set(key, vertex);
    this.#bytes += bytes;
  }

  /**
   * The known vertex whose fields are exactly these bytes: `payload`, the parent hashes one after
   * another in `parents`, and `validThrough`; undefined when none is. A vertex found leaves the
   * index: a replica reads a held vertex again once, in the PRE-PREPARE that orders it.
   */
  take(payload: Uint8Array, parents: Uint8Array, validThrough: number): Vertex | undefined {
    const key = fingerprint(payload, validThrough);
    const candidate = this.#byFingerprint.get(key);
    if (
      candidate === undefined ||
      candidate.validThrough !== validThrough ||
      candidate.payload.length !== payload.length ||
      candidate.parents.length * DIGEST_BYTES !== parents.length ||
      !sameBytes(candidate.payload, payload, 0)
    )
      return undefined;
    for (let i = 0; i < candidate.parents.length; i++) {
      if (!sameBytes(candidate.parents[i]!, parents, i * DIGEST_BYTES)) return undefined;
    }
    this.#byFingerprint.delete(key);
    this.#bytes -= vertexPayloadBytes(candidate);
    return candidate;
  }
}
