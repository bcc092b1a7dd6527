/**
 * Sequence tracing, a debugging aid (`cretoai-node start --trace-vertex`): the engine reports
 * each step of a sequence's life at this replica (a message received, verified, stepped; a write
 * issued and made durable; a vote released, signed and sent; a batch finalized and emitted) with
 * a timestamp in microseconds since the Unix epoch. The nodes of one machine share the clock, so
 * the points of all of them merge into one timeline of a vertex (`npm run bench:trace`).
 *
 * Off by default; when off the engine holds no tracer and pays one comparison per point.
 */
import type { Draft, DurableWrite, Message, ReplicaId, Verdict } from '../protocol/index.ts';

/** What happened to a sequence at this replica. */
export type TraceStep =
  /** Vertices handed to the core as one proposal (no sequence yet: `sequence` is null). */
  | 'proposal'
  /** The core assigned a sequence to a batch (this replica is the primary). */
  | 'assigned'
  /** A frame from a peer decoded; its signatures are being checked. */
  | 'received'
  /** Its signatures checked, the message waits for its turn in the core. */
  | 'verified'
  /** The core took the message in (`detail` is its verdict). */
  | 'stepped'
  /** A durable write was issued (`detail` is its kind). */
  | 'written'
  /** The write of the same kind and sequence reached disk. */
  | 'durable'
  /** A vote left the release queue (its writes are durable) and is being signed. */
  | 'released'
  | 'signed'
  | 'sent'
  /** The batch was finalized and its vertices handed to the application. */
  | 'delivered';

export interface TracePoint {
  /** Microseconds since the Unix epoch. */
  readonly at: number;
  readonly step: TraceStep;
  /** The sequence, or null where there is none yet. */
  readonly sequence: number | null;
  /** The message kind (for message steps) or write kind (for write steps). */
  readonly kind?: string;
  /** The peer a message came from or goes to ('all' for a broadcast). */
  readonly peer?: ReplicaId | 'all' | 'others';
  /** The verdict of a step, a vertex count, or the like. */
  readonly detail?: string | number;
}

export type Tracer = (point: TracePoint) => void;

/** Microseconds since the Unix epoch, to a fraction of a microsecond on this clock. */
export function traceNow(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** The sequence a message or draft is about, or null (a VIEW-CHANGE, a STATUS, ...). */
export function sequenceOf(message: Message | Draft): number | null {
  return 'sequence' in message && typeof message.sequence === 'number' ? message.sequence : null;
}

/** The sequence a durable write is about, or null (a view record, accepted vertices). */
export function writeSequence(write: DurableWrite): number | null {
  switch (write.kind) {
    case 'pre-prepare':
    case 'prepared':
      return write.sequence;
    case 'finalized':
      return write.record.sequence;
    case 'stable':
      return write.certificate.sequence;
    case 'epoch':
      return write.record.closedAt;
    case 'truncate':
      return write.through;
    case 'view':
    case 'accepted':
      return null;
  }
}

/** 'accepted', or the outcome and its reason ('ignored:duplicate'). */
export function verdictName(verdict: Verdict): string {
  return verdict.outcome === 'accepted' ? 'accepted' : `${verdict.outcome}:${verdict.reason}`;
}
