/** Transports: the interface the engine sends through, the stream transports, and in-process networks. */

export {
  ClusterDiscovery,
  type ClusterDiscoveryOptions,
  DISCOVERY_ERROR_CODES,
  type Discovery,
  type DiscoveryErrorCode,
  type PeerAddress,
  PeerAddressError,
  parsePeerAddress,
} from './discovery.ts';
export type {
  DuplicateIdentityDetection,
  DuplicateIdentityOptions,
  DuplicateIdentityState,
  InstanceSighting,
} from './duplicate-identity.ts';
export { HANDSHAKE_REFUSAL_CODES, type HandshakeRefusalCode } from './handshake.ts';
export {
  type FrameFilter,
  MemoryNetwork,
  type MemoryNetworkOptions,
  type MemoryNetworkStats,
  MemoryTransport,
} from './memory.ts';
export { MessagePortTransport, type MessagePortTransportOptions, messagePortMesh } from './message-port.ts';
export { QuicTransport, type QuicTransportOptions, QuicUnavailableError } from './quic.ts';
export {
  DROP_REASONS,
  type DropReason,
  LINK_FAILURES,
  type LinkFailure,
  type PeerConnectionInfo,
  type PeerMisbehaviour,
  StreamTransport,
  type StreamTransportOptions,
  type StreamTransportStats,
} from './stream-transport.ts';
export { TcpTransport, type TcpTransportOptions } from './tcp.ts';
export type { FrameHandler, NodeId, Transport } from './transport.ts';
