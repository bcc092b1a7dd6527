/**
 * The send queue of one stream connection: frames in the clear waiting behind a stream that
 * does not accept writes, bounded by frames and by bytes. When a new frame does not fit, the
 * oldest frames are dropped until it does (the drop policy of `stream-transport.ts`).
 */
import { Fifo } from '../shell/fifo.ts';

/** A bounded FIFO of frames in the clear, counting its bytes. */
export class FrameQueue {
  readonly #frames = new Fifo<Uint8Array>();
  readonly #framesMax: number;
  readonly #bytesMax: number;
  #bytes = 0;

  constructor(framesMax: number, bytesMax: number) {
    this.#framesMax = framesMax;
    this.#bytesMax = bytesMax;
  }

  /** Frames queued. */
  get length(): number {
    return this.#frames.length;
  }

  /** Bytes of the frames queued. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Queues `frame`, then drops the oldest frames until both bounds hold; a frame over the bytes
   * bound on its own is dropped instead of queued. Returns how many frames were dropped.
   */
  enqueue(frame: Uint8Array): number {
    if (frame.length > this.#bytesMax) return 1;
    this.#frames.push(frame);
    this.#bytes += frame.length;
    let dropped = 0;
    while (this.#frames.length > this.#framesMax || this.#bytes > this.#bytesMax) {
      this.shift();
      dropped++;
    }
    return dropped;
  }

  /** The oldest frame, taken out of the queue. */
  shift(): Uint8Array | undefined {
    const frame = this.#frames.shift();
    if (frame !== undefined) this.#bytes -= frame.length;
    return frame;
  }

  /** Empties the queue. Returns how many frames it held. */
  clear(): number {
    const dropped = this.#frames.drain().length;
    this.#bytes = 0;
    return dropped;
  }
}
