/**
 * What the engine needs from a network: authenticated, bounded, fire-and-forget delivery of
 * frames between the validators of one cluster. The in-memory network (`memory.ts`) serves
 * tests and benchmarks; the TCP transport (authenticated ML-DSA-87 handshake) implements the
 * same interface.
 *
 * A frame is one encoded message (`wire/encodeMessage`): the transport adds its own framing on
 * a stream. Delivery is best effort: the protocol retransmits what matters (status messages,
 * request retries), so a transport drops rather than blocks when a peer's queue is full.
 */

/** A validator's name in the cluster (the entries of `BftConfig.validators`). */
export type NodeId = string;

/** Receives a frame; `from` is the authenticated sender. The frame must not be modified. */
export type FrameHandler = (from: NodeId, frame: Uint8Array) => void;

/**
 * How an engine reaches its peers: authenticated frames to and from the other validators.
 * Implementations: `TcpTransport`, `QuicTransport`, `MemoryNetwork` endpoints and
 * `MessagePortTransport`.
 */
export interface Transport {
  /** Starts connecting to peers and accepting their connections. */
  start(): Promise<void>;
  /** Closes every connection; frames queued and not yet sent are dropped. */
  stop(): Promise<void>;
  /** Queues `frame` for `to`; drops it when `to` is unreachable or its queue is full. */
  send(to: NodeId, frame: Uint8Array): void;
  /** Queues `frame` for every other validator. */
  broadcast(frame: Uint8Array): void;
  /** Sets the one handler every received frame goes to (replacing any earlier one). */
  onFrame(handler: FrameHandler): void;
  /** The peers this node has a working connection to now. */
  connectedPeers(): readonly NodeId[];
}
