/** Storage: the interface the engine persists through, and an in-memory implementation. */

export {
  STORE_CORRUPTION_CODES,
  StoreClosedError,
  StoreCorruptError,
  type StoreCorruptionCode,
  StoreInUseError,
} from './errors.ts';
export {
  type BackupManifest,
  type FinalizedVertex as StoredVertex,
  LmdbStore,
  type LmdbStoreOptions,
  type LmdbStoreStats,
  type VerifyReport,
} from './lmdb.ts';
export { MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from './memory.ts';
export {
  DAMAGE_MARKER_FILE,
  type ScrubHooks,
  type ScrubOptions,
  type ScrubPass,
  type ScrubStats,
  StoreScrubber,
} from './scrub.ts';
export type { Store } from './store.ts';
