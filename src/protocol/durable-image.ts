/**
 * The durable state of a replica as the core sees it: what its writes leave behind. Storage
 * implementations apply writes to their own layout; this in-memory image is the reference
 * they follow, and the one the simulator's disk and the memory store use.
 */
import type { DurableWrite, FinalizedRecord } from './effects.ts';
import type { EpochRecord } from './epochs.ts';
import type { CheckpointCertificate } from './messages.ts';
import { type Vertex, vertexKey } from './types.ts';

export type ViewRecord = Extract<DurableWrite, { kind: 'view' }>;
export type PrePrepareRecord = Extract<DurableWrite, { kind: 'pre-prepare' }>;
export type PreparedRecord = Extract<DurableWrite, { kind: 'prepared' }>;

/** What a replica restarts from (see `restoreReplica`). */
export interface DurableSnapshot {
  /** The epoch history by number, ascending; empty when no request ever closed epoch 0. */
  readonly epochs: readonly EpochRecord[];
  readonly view: ViewRecord | null;
  readonly stable: CheckpointCertificate | null;
  readonly prePrepares: readonly PrePrepareRecord[];
  readonly prepared: readonly PreparedRecord[];
  /** The latest finalized records in sequence order: at least `dedupHorizonSequences` of them, or all. */
  readonly finalized: readonly FinalizedRecord[];
  /**
   * The client vertices accepted and not yet truncated (some may be final or expired by now:
   * each is kept as long as the longest-lived vertex written with it).
   */
  readonly accepted: readonly Vertex[];
}

/**
 * The reference image of a replica's durable state: every write applied in order, with old
 * finalized records dropped past `finalizedRetention`.
 */
export class DurableImage {
  /** Epoch records by number. */
  readonly epochs = new Map<number, EpochRecord>();
  view: ViewRecord | null = null;
  stable: CheckpointCertificate | null = null;
  readonly prePrepares = new Map<number, PrePrepareRecord>();
  readonly prepared = new Map<number, PreparedRecord>();
  readonly finalized = new Map<number, FinalizedRecord>();
  /** Accepted client vertices by hash (hex). */
  readonly accepted = new Map<string, Vertex>();
  /**
   * Per accepted vertex (by hash), the sequence through which it is kept: the highest
   * validThrough of any accepted write that held it. A store writes each accepted write as one
   * record and removes it once all its vertices expired (`record-codec.ts`), and this image
   * keeps what such a store keeps, so that restores from it see the same expired vertices.
   */
  readonly #acceptedKeptThrough = new Map<string, number>();
  lastFinalized = 0;
  /** Finalized records kept: older ones are dropped (peers further behind cannot catch up here). */
  readonly finalizedRetention: number;

  constructor(finalizedRetention = Number.POSITIVE_INFINITY) {
    this.finalizedRetention = finalizedRetention;
  }

  /** Applies one of the core's writes, as a store applies it when it makes it durable. */
  apply(write: DurableWrite): void {
    switch (write.kind) {
      case 'epoch':
        this.epochs.set(write.record.number, write.record);
        break;
      case 'view':
        this.view = write;
        break;
      case 'pre-prepare':
        this.prePrepares.set(write.sequence, write);
        break;
      case 'prepared':
        this.prepared.set(write.sequence, write);
        break;
      case 'stable':
        this.stable = write.certificate;
        break;
      case 'finalized': {
        const { sequence } = write.record;
        this.finalized.set(sequence, write.record);
        if (sequence > this.lastFinalized) this.lastFinalized = sequence;
        this.finalized.delete(sequence - this.finalizedRetention);
        break;
      }
      case 'accepted': {
        let keptThrough = 0;
        for (const vertex of write.vertices) keptThrough = Math.max(keptThrough, vertex.validThrough);
        for (const vertex of write.vertices) {
          const key = vertexKey(vertex);
          this.accepted.set(key, vertex);
          this.#acceptedKeptThrough.set(key, Math.max(keptThrough, this.#acceptedKeptThrough.get(key) ?? 0));
        }
        break;
      }
      case 'truncate':
        for (const sequence of this.prePrepares.keys())
          if (sequence <= write.through) this.prePrepares.delete(sequence);
        for (const sequence of this.prepared.keys())
          if (sequence <= write.through) this.prepared.delete(sequence);
        for (const [key, keptThrough] of this.#acceptedKeptThrough) {
          if (keptThrough > write.through) continue;
          this.accepted.delete(key);
          this.#acceptedKeptThrough.delete(key);
        }
        break;
    }
  }

  /** The record finalized at `sequence`, if kept. */
  finalizedAt(sequence: number): FinalizedRecord | undefined {
    return this.finalized.get(sequence);
  }

  /** What a replica restarts from, with the last `recentFinalized` finalized records. */
  snapshot(recentFinalized: number): DurableSnapshot {
    const finalized: FinalizedRecord[] = [];
    for (
      let sequence = Math.max(1, this.lastFinalized - recentFinalized + 1);
      sequence <= this.lastFinalized;
      sequence++
    ) {
      const record = this.finalized.get(sequence);
      if (record !== undefined) finalized.push(record);
    }
    return {
      epochs: [...this.epochs.values()].sort((a, b) => a.number - b.number),
      view: this.view,
      stable: this.stable,
      prePrepares: [...this.prePrepares.values()],
      prepared: [...this.prepared.values()],
      finalized,
      accepted: [...this.accepted.values()],
    };
  }
}
