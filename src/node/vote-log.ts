/**
 * A debugging aid: a transport wrapper that writes every vote this node sends to a file, one
 * JSON line each (`{"kind":"commit","epoch":0,"view":0,"sequence":12,"digest":"..."}`), before the vote
 * reaches the network. The write is synchronous, so a vote that left the process is in the file
 * even when the process is killed right after (the kernel holds the page). The crash tests read
 * the file across a node's lives to check that it never signed two different votes for one slot.
 */
import fs from 'node:fs';
import { toHex } from '../crypto/index.ts';
import type { FrameHandler, NodeId, Transport } from '../transport/index.ts';
import { type DecodeLimits, decodeMessage } from '../wire/index.ts';

/** One line of a vote log. */
export interface LoggedVote {
  readonly kind: 'pre-prepare' | 'prepare' | 'commit' | 'checkpoint';
  readonly epoch: number;
  readonly view: number;
  readonly sequence: number;
  readonly digest: string;
}

export class VoteLoggingTransport implements Transport {
  readonly #inner: Transport;
  readonly #limits: DecodeLimits;
  readonly #self: (epoch: number) => number | undefined;
  readonly #fd: number;

  /**
   * @param self - this node's replica id in an epoch (ids are per epoch: its own votes are
   *   those signed under its id in the epoch they name; the others it sends are relays).
   */
  constructor(
    inner: Transport,
    file: string,
    limits: DecodeLimits,
    self: (epoch: number) => number | undefined,
  ) {
    this.#inner = inner;
    this.#limits = limits;
    this.#self = self;
    this.#fd = fs.openSync(file, 'a');
  }

  start(): Promise<void> {
    return this.#inner.start();
  }

  async stop(): Promise<void> {
    await this.#inner.stop();
  }

  /** Closes the log file; the transport must be stopped. */
  close(): void {
    fs.closeSync(this.#fd);
  }

  send(to: NodeId, frame: Uint8Array): void {
    this.#record(frame);
    this.#inner.send(to, frame);
  }

  broadcast(frame: Uint8Array): void {
    this.#record(frame);
    this.#inner.broadcast(frame);
  }

  onFrame(handler: FrameHandler): void {
    this.#inner.onFrame(handler);
  }

  connectedPeers(): readonly NodeId[] {
    return this.#inner.connectedPeers();
  }

  #record(frame: Uint8Array): void {
    const decoded = decodeMessage(frame, this.#limits);
    if (!decoded.ok) return;
    const message = decoded.message;
    if (!('epoch' in message) || message.replica !== this.#self(message.epoch)) return;
    let vote: LoggedVote;
    switch (message.kind) {
      case 'pre-prepare':
      case 'prepare':
      case 'commit':
        vote = {
          kind: message.kind,
          epoch: message.epoch,
          view: message.view,
          sequence: message.sequence,
          digest: toHex(message.digest),
        };
        break;
      case 'checkpoint':
        vote = {
          kind: 'checkpoint',
          epoch: message.epoch,
          view: 0,
          sequence: message.sequence,
          digest: toHex(message.stateDigest),
        };
        break;
      default:
        return;
    }
    fs.writeSync(this.#fd, `${JSON.stringify(vote)}\n`);
  }
}
