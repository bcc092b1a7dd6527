/**
 * Byte arrays for the hot paths, allocated where they are cheap.
 *
 * V8 keeps a typed array of up to 64 bytes on its heap, but gives a larger one a backing store
 * of its own outside it, which costs microseconds to allocate and to collect: more than hashing
 * or decoding the bytes it holds. An array on the heap moves out the first time anything asks
 * for its `buffer` (a DataView, `subarray`, a Buffer over it, LMDB taking its address), at
 * about the same price. Slices of a shared 8 KiB slab, as Buffer's pool hands them out, cost
 * tens of nanoseconds, and LMDB takes a slab's address once for all its slices. An array made
 * here is a plain Uint8Array (not a Buffer) viewing such a slice, so `slice` on it copies as on
 * any other.
 *
 * What this costs: a retained copy keeps its whole slab alive, and its `buffer` is the slab.
 * So nothing here may be transferred to a worker (that would detach the slab under other
 * arrays), and code must address the bytes through `byteOffset`, never through `buffer` alone.
 */

/** Arrays of at most this many bytes live on V8's heap, where allocating them is cheap. */
const ON_HEAP_BYTES_MAX = 64;

/** Bytes of a slab: Buffer's pool size, so that a retained slice keeps as much alive as one of its. */
const SLAB_BYTES = 8 * 1024;

/** Arrays of at least this many bytes get a backing store of their own, as from Buffer's pool. */
const OWN_STORE_BYTES_MIN = SLAB_BYTES / 2;

/** The slab arrays are cut from, and where its free part starts (a multiple of 8). */
let slab = newSlab();
let slabOffset = 0;

/** A slab, not zeroed: every array cut from it is filled before anyone reads it. */
function newSlab(): ArrayBuffer {
  return Buffer.allocUnsafeSlow(SLAB_BYTES).buffer as ArrayBuffer;
}

/**
 * `length` bytes cut from a shared slab as Buffer's pool cuts them (from 4 KiB up, of their
 * own), not zeroed: for arrays whose `buffer` is wanted at once, and which the caller fills
 * before anyone reads them. The slab is this module's rather than Buffer's so that each array
 * is one object: a slice of Buffer's pool is a Buffer, and a plain view of it a second object.
 */
export function allocBytes(length: number): Uint8Array {
  if (length >= OWN_STORE_BYTES_MIN) {
    const own = Buffer.allocUnsafeSlow(length);
    return new Uint8Array(own.buffer, own.byteOffset, own.byteLength);
  }
  if (slabOffset + length > SLAB_BYTES) {
    slab = newSlab();
    slabOffset = 0;
  }
  const bytes = new Uint8Array(slab, slabOffset, length);
  // Aligned to 8, as Buffer's pool aligns its slices.
  slabOffset = (slabOffset + length + 7) & ~7;
  return bytes;
}

/**
 * A copy of `source`: on V8's heap up to 64 bytes (a digest that is kept must not keep a slab
 * alive), from Buffer's pool above.
 */
export function copyBytes(source: Uint8Array): Uint8Array {
  if (source.length <= ON_HEAP_BYTES_MAX) {
    const small = new Uint8Array(source.length);
    small.set(source);
    return small;
  }
  const copy = allocBytes(source.length);
  copy.set(source);
  return copy;
}
