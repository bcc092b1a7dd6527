/**
 * The node's durable store on LMDB: {@link LmdbStore} and the types of its API. The store is
 * built from the modules of `lmdb/` (see `lmdb/store.ts`); this module is its entry point.
 */
export {
  type BackupManifest,
  type FinalizedVertex,
  LmdbStore,
  type LmdbStoreOptions,
  type LmdbStoreStats,
  type VerifyReport,
} from './lmdb/store.ts';
