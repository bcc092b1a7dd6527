/** Transports: the interface the engine sends through, and an in-process network for tests. */
export {
  type FrameFilter,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryNetworkStats,
  MemoryTransport,
} from './memory.ts';
export type { FrameHandler, NodeId, Transport } from './transport.ts';
