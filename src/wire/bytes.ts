/**
 * Byte arrays for the hot paths, allocated where they are cheap.
 *
 * V8 keeps a typed array of up to 64 bytes on its heap, but gives a larger one a backing store
 * of its own outside it, which costs microseconds to allocate and to collect: more than hashing
 * or decoding the bytes it holds. An array on the heap moves out the first time anything asks
 * for its `buffer` (a DataView, `subarray`, a Buffer over it, LMDB taking its address), at
 * about the same price. Node's Buffer pool hands out slices of a shared 8 KiB slab in tens of
 * nanoseconds, and LMDB takes a slab's address once for all its slices. An array made here is a
 * plain Uint8Array (not a Buffer) viewing such a slice, so `slice` on it copies as on any other.
 *
 * What this costs: a retained copy keeps its whole slab alive, and its `buffer` is the slab.
 * So nothing here may be transferred to a worker (that would detach the slab under other
 * arrays), and code must address the bytes through `byteOffset`, never through `buffer` alone.
 */

/** Arrays of at most this many bytes live on V8's heap, where allocating them is cheap. */
const ON_HEAP_BYTES_MAX = 64;

/**
 * `length` bytes from Buffer's pool (from 4 KiB up, of their own), not zeroed: for arrays whose
 * `buffer` is wanted at once, and which the caller fills before anyone reads them.
 */
export function allocBytes(length: number): Uint8Array {
  const pooled = Buffer.allocUnsafe(length);
  return new Uint8Array(pooled.buffer, pooled.byteOffset, pooled.byteLength);
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
