/**
 * The vertices finalized in the last `dedupHorizonSequences` sequences, by hash: with each
 * vertex's validity bound (`isDeliverableAt` in `types.ts`), what makes a vertex final at most
 * once with bounded memory.
 *
 * The argument. A vertex V first delivered at s1 satisfied V.validThrough < s1 + horizon. It
 * could only be delivered again at some s2 > s1 with s2 <= V.validThrough, so s2 - s1 <
 * horizon: s1 is among the last `horizon` sequences before s2, and V is still here. Once s1
 * leaves the horizon, V has expired and the validity check refuses it by itself. Every replica
 * derives this set from the same finalized history, so all decide alike.
 *
 * The set holds at most horizon x batchCountMax hashes, and in practice the vertices finalized
 * in the last `horizon` sequences.
 *
 * Layout. Under load that is hundreds of thousands of hashes, looked up several times for every
 * vertex a replica sees. Kept as a Map of hex strings, the set was the costliest structure of the
 * engine's main thread: a lookup missed the cache several times, every new key was hashed as a
 * string, the Map's growth reallocated it whole, and the collector traced every entry
 * (docs/benchmarks.md). So the hashes live in typed arrays the collector does not trace:
 *
 * - a ring of 32-byte hashes in the order they were delivered, each with its sequence, from
 *   which the oldest sequences leave first;
 * - an index over the ring: open addressing with linear probing, at most half full.
 *
 * The index hashes a key with multipliers drawn at random for each set (a multilinear hash), so
 * that no client can grind vertex hashes that pile up in one run of the index and slow every
 * lookup. Only the layout is random; every answer depends on the keys alone.
 */
import { HEX_DIGIT_VALUES } from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';
import { Fifo } from '../shell/fifo.ts';

/** A vertex key: the 64 lower-case hex digits of a SHA-256 hash, parsed as eight 32-bit words. */
const KEY_CHARS = 64;
const HASH_WORDS = 8;
const CHARS_PER_WORD = KEY_CHARS / HASH_WORDS;
const HASH_BYTES = 32;

/**
 * The words of a key that its index hash covers. 64 bits of a SHA-256 hash: no client can make
 * many vertices agree on them, and a lookup that misses (most do) parses only these.
 */
const INDEXED_WORDS = 2;

/** The ring's smallest capacity, in hashes; it doubles and halves from here. */
const MIN_CAPACITY = 1024;

/**
 * Parses words `from` to `to` (exclusive) of `key` into `words`; false if those characters are
 * not lower-case hex digits. The caller checks the key's length.
 */
function parseWords(key: string, words: Int32Array, from: number, to: number): boolean {
  let invalid = 0;
  for (let w = from; w < to; w++) {
    let word = 0;
    for (let c = w * CHARS_PER_WORD; c < (w + 1) * CHARS_PER_WORD; c++) {
      const code = key.charCodeAt(c);
      const digit = code < 128 ? HEX_DIGIT_VALUES[code]! : -1;
      invalid |= digit; // -1 makes it negative for good
      word = (word << 4) | (digit & 15);
    }
    words[w] = word;
  }
  return invalid >= 0;
}

/** Reads the eight big-endian words of a 32-byte hash into `words`, as {@link parseWords} reads its key. */
function readWords(hash: Uint8Array, words: Int32Array): void {
  for (let w = 0, at = 0; w < HASH_WORDS; w++, at += 4) {
    words[w] = (hash[at]! << 24) | (hash[at + 1]! << 16) | (hash[at + 2]! << 8) | hash[at + 3]!;
  }
}

/** Random odd 32-bit multipliers, one per indexed word. */
function randomMultipliers(): Int32Array {
  const multipliers = crypto.getRandomValues(new Int32Array(INDEXED_WORDS));
  for (let i = 0; i < INDEXED_WORDS; i++) multipliers[i] = multipliers[i]! | 1;
  return multipliers;
}

export class DeliveredSet {
  readonly #horizon: number;
  readonly #multipliers: Int32Array;
  /** Scratch for the key being looked up (the set is used from one thread, never re-entered). */
  readonly #words = new Int32Array(HASH_WORDS);

  // The ring: `#used` slots from `#head` (oldest) on, modulo `#capacity` (a power of two).
  #capacity = MIN_CAPACITY;
  #head = 0;
  #used = 0;
  #hashes = new Int32Array(MIN_CAPACITY * HASH_WORDS);
  #sequences = new Float64Array(MIN_CAPACITY);
  /** Each slot's index hash, so that moving an index entry does not read its slot's hash. */
  #slotHashes = new Int32Array(MIN_CAPACITY);

  // The index: 1 + the slot of a key, or 0 for an empty entry; twice the ring's capacity long.
  #index = new Int32Array(2 * MIN_CAPACITY);
  /** An index hash shifted right by this is its home entry (the top bits are the best mixed). */
  #shift = 32 - Math.log2(2 * MIN_CAPACITY);
  /** Keys in the index: a slot whose key was delivered again later is no longer indexed. */
  #size = 0;

  /** The slots of each remembered sequence, oldest first. */
  readonly #bySequence = new Fifo<{ readonly sequence: number; readonly slots: number }>();

  /**
   * @param horizon - sequences remembered (the replica's `dedupHorizonSequences`).
   * @param multipliers - the index's hash multipliers, two of them (random by default; tests
   *   pass their own to force collisions).
   */
  constructor(horizon: number, multipliers: Int32Array = randomMultipliers()) {
    if (multipliers.length !== INDEXED_WORDS) {
      throw new ArgumentError(`expected ${INDEXED_WORDS} multipliers, got ${multipliers.length}`);
    }
    this.#horizon = horizon;
    this.#multipliers = Int32Array.from(multipliers);
  }

  /** Vertices remembered now. */
  get size(): number {
    return this.#size;
  }

  has(key: string): boolean {
    return this.#lookup(key) >= 0;
  }

  /** The sequence at which the vertex `key` was delivered, if within the horizon. */
  sequenceOf(key: string): number | undefined {
    const entry = this.#lookup(key);
    return entry < 0 ? undefined : this.#sequences[this.#index[entry]! - 1];
  }

  /**
   * Records the vertices delivered at `sequence` (higher than any recorded before), by their
   * hashes (the bytes, which cost less to read than their keys' hex), then forgets the sequences
   * that left the horizon.
   *
   * @throws ArgumentError for a hash that is not 32 bytes; the hashes before it are recorded.
   */
  record(sequence: number, hashes: readonly Uint8Array[]): void {
    let slots = 0;
    try {
      for (const hash of hashes) {
        if (hash.length !== HASH_BYTES)
          throw new ArgumentError(`a vertex hash is ${HASH_BYTES} bytes, got ${hash.length}`);
        readWords(hash, this.#words);
        this.#append(sequence);
        slots++;
      }
    } finally {
      this.#bySequence.push({ sequence, slots });
    }
    for (;;) {
      const oldest = this.#bySequence.peek();
      if (oldest === undefined || oldest.sequence > sequence - this.#horizon) break;
      this.#bySequence.shift();
      for (let i = 0; i < oldest.slots; i++) this.#removeOldest();
    }
    if (this.#capacity > MIN_CAPACITY && this.#used < this.#capacity / 4) this.#resize(this.#capacity / 2);
  }

  /** The index entry of `key`, or -1. */
  #lookup(key: string): number {
    if (key.length !== KEY_CHARS || !parseWords(key, this.#words, 0, INDEXED_WORDS)) return -1;
    const entry = this.#probe(this.#hashOf(this.#words), key);
    return entry >= 0 ? entry : -1;
  }

  /**
   * Probes the index for the key in `#words`, whose index hash is `hash`: its entry, or the
   * bitwise complement of the empty entry that ends the probe (negative). With `key`, only its
   * indexed words are parsed yet, and the rest are parsed at the first slot whose hash matches
   * (a key whose rest is not hex is reported absent, as -1).
   */
  #probe(hash: number, key: string | null): number {
    let parsed = key === null;
    const mask = this.#index.length - 1;
    for (let entry = hash >>> this.#shift; ; entry = (entry + 1) & mask) {
      const value = this.#index[entry]!;
      if (value === 0) return ~entry;
      if (this.#slotHashes[value - 1] !== hash) continue;
      if (!parsed) {
        if (!parseWords(key!, this.#words, INDEXED_WORDS, HASH_WORDS)) return -1;
        parsed = true;
      }
      if (this.#slotHolds(value - 1, this.#words)) return entry;
    }
  }

  /** The multilinear hash of the indexed words of `words`. */
  #hashOf(words: Int32Array): number {
    return (Math.imul(words[0]!, this.#multipliers[0]!) + Math.imul(words[1]!, this.#multipliers[1]!)) | 0;
  }

  #slotHolds(slot: number, words: Int32Array): boolean {
    const at = slot * HASH_WORDS;
    for (let i = 0; i < HASH_WORDS; i++) if (this.#hashes[at + i] !== words[i]) return false;
    return true;
  }

  /** Appends the key in `#words`, delivered at `sequence`, to the ring and indexes it. */
  #append(sequence: number): void {
    if (this.#used === this.#capacity) this.#resize(this.#capacity * 2);
    const slot = (this.#head + this.#used) & (this.#capacity - 1);
    this.#used++;
    this.#hashes.set(this.#words, slot * HASH_WORDS);
    this.#sequences[slot] = sequence;
    const hash = this.#hashOf(this.#words);
    this.#slotHashes[slot] = hash;
    this.#indexSlot(slot, hash);
  }

  /** Points the index at `slot` for its key (in `#words`), replacing an older slot of the same key. */
  #indexSlot(slot: number, hash: number): void {
    const entry = this.#probe(hash, null);
    if (entry >= 0) {
      this.#index[entry] = slot + 1;
      return;
    }
    this.#index[~entry] = slot + 1;
    this.#size++;
  }

  /** Drops the oldest slot of the ring, and its index entry unless a later slot replaced it. */
  #removeOldest(): void {
    const slot = this.#head;
    this.#head = (this.#head + 1) & (this.#capacity - 1);
    this.#used--;
    const mask = this.#index.length - 1;
    for (let entry = this.#slotHashes[slot]! >>> this.#shift; ; entry = (entry + 1) & mask) {
      const value = this.#index[entry]!;
      if (value === 0) return;
      if (value === slot + 1) {
        this.#unindex(entry);
        this.#size--;
        return;
      }
    }
  }

  /**
   * Empties index entry `hole` and shifts back the entries after it that probed past it, so that
   * every key stays reachable from its home entry without gaps (deletion without tombstones).
   */
  #unindex(hole: number): void {
    const mask = this.#index.length - 1;
    for (let entry = (hole + 1) & mask; ; entry = (entry + 1) & mask) {
      const value = this.#index[entry]!;
      if (value === 0) break;
      const home = this.#slotHashes[value - 1]! >>> this.#shift;
      // The entry may move into the hole unless its home lies after the hole, up to the entry.
      if (((entry - home) & mask) >= ((entry - hole) & mask)) {
        this.#index[hole] = value;
        hole = entry;
      }
    }
    this.#index[hole] = 0;
  }

  /**
   * Moves the ring into `capacity` slots, oldest first from slot 0, and rebuilds the index from
   * the old one's entries: only indexed slots, each a different key, so nothing is compared.
   */
  #resize(capacity: number): void {
    const oldMask = this.#capacity - 1;
    const hashes = new Int32Array(capacity * HASH_WORDS);
    const sequences = new Float64Array(capacity);
    const slotHashes = new Int32Array(capacity);
    // The used slots are at most two runs: from the head to the end, then from slot 0 on.
    const firstRun = Math.min(this.#used, this.#capacity - this.#head);
    const runs = [
      { from: this.#head, to: 0, slots: firstRun },
      { from: 0, to: firstRun, slots: this.#used - firstRun },
    ];
    for (const { from, to, slots } of runs) {
      if (slots === 0) continue;
      hashes.set(this.#hashes.subarray(from * HASH_WORDS, (from + slots) * HASH_WORDS), to * HASH_WORDS);
      sequences.set(this.#sequences.subarray(from, from + slots), to);
      slotHashes.set(this.#slotHashes.subarray(from, from + slots), to);
    }
    const oldIndex = this.#index;
    const index = new Int32Array(2 * capacity);
    const shift = 32 - Math.log2(2 * capacity);
    const mask = index.length - 1;
    for (const value of oldIndex) {
      if (value === 0) continue;
      const slot = (value - 1 - this.#head) & oldMask;
      let entry = slotHashes[slot]! >>> shift;
      while (index[entry] !== 0) entry = (entry + 1) & mask;
      index[entry] = slot + 1;
    }
    this.#capacity = capacity;
    this.#head = 0;
    this.#hashes = hashes;
    this.#sequences = sequences;
    this.#slotHashes = slotHashes;
    this.#index = index;
    this.#shift = shift;
  }
}
