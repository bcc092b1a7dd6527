/** Storage: the interface the engine persists through, and an in-memory implementation. */
export { MemoryStore, type MemoryStoreOptions, type MemoryStoreStats } from './memory.ts';
export type { Store } from './store.ts';
