/**
 * Numbers read out of the store's keys, and LMDB range bounds over keys ordered by a number
 * (key layout: see `record-codec.ts`).
 */

import { ArgumentError } from '../../errors.ts';
import { keyBySequence, parseKey } from '../record-codec.ts';

/** The sequence in a key by sequence (prefix byte, u64). */
export function sequenceOf(key: Uint8Array): number {
  const parsed = parseKey(key);
  if (parsed === null || !('sequence' in parsed)) throw new ArgumentError('not a key by sequence');
  return parsed.sequence;
}

/**
 * The number a range of keys of one prefix is ordered by: the sequence, an accepted vertex's
 * validThrough, an accepted list's kept-through sequence, or an epoch's number.
 */
export function orderingNumberOf(key: Uint8Array): number {
  const parsed = parseKey(key);
  if (parsed !== null && 'sequence' in parsed) return parsed.sequence;
  if (parsed?.kind === 'accepted') return parsed.validThrough;
  if (parsed?.kind === 'acceptedList') return parsed.keptThrough;
  if (parsed?.kind === 'epoch') return parsed.number;
  throw new ArgumentError('not a key ordered by a number');
}

/** LMDB range bounds for keys of `prefix` with a sequence in [from, to]. */
export function rangeBounds(
  prefix: number,
  from: number,
  to: number,
): { start: Uint8Array; end: Uint8Array } {
  // The end is exclusive: the key after `to`, or the next prefix when `to` is the largest.
  const end = to >= Number.MAX_SAFE_INTEGER ? Uint8Array.of(prefix + 1) : keyBySequence(prefix, to + 1);
  return { start: keyBySequence(prefix, from), end };
}
