/**
 * Reading a stored record the way every store must: a record that fails its checksum or does not
 * decode refuses the whole store with a {@link StoreCorruptError} naming the record, never a
 * partial read. The LMDB store and the simulator's disk both read through this.
 */
import { StoreCorruptError, type StoreCorruptionCode } from './errors.ts';
import { describeKey, RecordError } from './record-codec.ts';

/** Runs `decode` on the record under `key`; its RecordError becomes a StoreCorruptError. */
export function decodeOrRefuse<T>(dataPath: string, key: Uint8Array, decode: () => T): T {
  try {
    return decode();
  } catch (error) {
    if (error instanceof RecordError) {
      const code: StoreCorruptionCode = error.code === 'checksum' ? 'checksum' : 'malformed';
      throw new StoreCorruptError(
        code,
        dataPath,
        `the ${describeKey(key)} fails its check: ${error.message}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
