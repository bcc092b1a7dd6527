/**
 * Byte arrays for the hot paths, allocated where they are cheap.
 *
 * V8 keeps a typed array of up to 64 bytes on its heap, but gives a larger one a backing store
 * of its own outside it, which costs microseconds to allocate and to collect: more than hashing
 * or decoding the bytes it holds. Node's Buffer pool hands out slices of a shared 8 KiB slab in
 * tens of nanoseconds. A copy made here is a plain Uint8Array (not a Buffer) viewing such a
 * slice, so `slice` on it copies as on any other Uint8Array.
 *
 * What this costs: a retained copy keeps its whole slab alive, and its `buffer` is the slab.
 * So nothing here may be transferred to a worker (that would detach the slab under other
 * arrays), and code must address the bytes through `byteOffset`, never through `buffer` alone.
 */

/** Arrays of at most this many bytes live on V8's heap, where allocating them is cheap. */
const ON_HEAP_BYTES_MAX = 64;

/** A copy of `source` in memory of its own or from Buffer's pool. */
export function copyBytes(source: Uint8Array): Uint8Array {
  if (source.length <= ON_HEAP_BYTES_MAX) {
    const small = new Uint8Array(source.length);
    small.set(source);
    return small;
  }
  // allocUnsafe takes from the pool below half its size; larger arrays get a store of their own.
  const pooled = Buffer.allocUnsafe(source.length);
  pooled.set(source);
  return new Uint8Array(pooled.buffer, pooled.byteOffset, pooled.byteLength);
}
