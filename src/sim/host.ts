/**
 * What runs a replica's processes on its disk, as a node's supervisor and operator would: it
 * starts a process, kills it (a crash), restarts one that halted on a failed sync (the engine
 * stops for good on one, as in production; a supervisor starts a new process on the store),
 * and, when a process refuses to start on a damaged disk, waits for the operator to wipe the
 * disk and start it again, empty, to rejoin by state transfer.
 */
import { StoreCorruptError } from '../storage/errors.ts';
import type { SimDisk } from './disk.ts';
import type { EventQueue } from './event-queue.ts';
import { EngineInstance, type InstanceOptions } from './instance.ts';
import type { Prng } from './prng.ts';
import { SimulatedSyncError } from './sim-store.ts';

/** What becomes of the replica's processes, for the run. */
export interface HostObserver {
  /** The operator replaced the replica's machine (`ReplicaHost.rejoin`): its history starts over. */
  rejoined(replica: number): void;
  /** A process refused to start on the damaged disk, as a node refuses a damaged store. */
  refused(replica: number, error: StoreCorruptError): void;
  /** The operator wiped the disk: the replica's history starts over. */
  wiped(replica: number): void;
  /** A process halted: on a simulated sync failure (`expected`), or otherwise (a broken invariant). */
  halted(replica: number, error: Error, expected: boolean): void;
  /** The set of processes changed (one started or died): frames in flight to the old one are lost. */
  changed(replica: number): void;
}

export interface HostOptions {
  readonly disk: SimDisk;
  readonly queue: EventQueue;
  /** Forked once per process. */
  readonly prng: Prng;
  readonly observer: HostObserver;
  /** How long a supervisor takes to start a process that halted. */
  readonly restartDelayMs: readonly [number, number];
  /** How long an operator takes to wipe a refused disk and start the replica again. */
  readonly operatorDelayMs: readonly [number, number];
  /**
   * Whether the operator may start a wiped replica now. A wiped replica forgot what it signed;
   * started while a replica still takes part in a view it led, it orders again, differently,
   * sequences it ordered there before (the core has no recovery protocol yet: see the note on
   * wipes in the README). The operator waits until every other replica runs, active in one
   * view that another replica leads: then no view the wiped replica led has a taker.
   */
  readonly mayStartWiped: (replica: number) => boolean;
  /** Everything a process is built from, but what the host decides. */
  readonly process: Omit<InstanceOptions, 'incarnation' | 'prng' | 'halted' | 'disk'>;
}

export class ReplicaHost {
  readonly replica: number;
  readonly disk: SimDisk;
  readonly #options: HostOptions;
  #instance: EngineInstance | null = null;
  #incarnation = 0;
  /** The disk was refused and the operator is on the way: starting now would be refused again. */
  #refused = false;
  /** A process halted on something other than a failed sync: the replica is broken for good. */
  #broken = false;
  /** Bumped whenever a process starts or dies: frames in flight to an earlier one are lost. */
  #epoch = 0;
  /** Counts the machines the replica ran on: a rejoin replaces it (see `rejoin`). */
  #machine = 0;
  /** What a process is built from; a rejoin gives it the epoch it joins. */
  #process: HostOptions['process'];

  constructor(options: HostOptions) {
    this.#options = options;
    this.disk = options.disk;
    this.replica = options.process.replica;
    this.#process = options.process;
  }

  /** The running process, if any. */
  get instance(): EngineInstance | null {
    return this.#instance;
  }

  /** Counts the processes started and died; see {@link SimNode.epoch}. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Whether the replica halted on a broken invariant and stays down. */
  get broken(): boolean {
    return this.#broken;
  }

  /** Whether a process is up (it may still be starting). */
  get up(): boolean {
    return this.#instance !== null;
  }

  /** Starts a process unless one is up, the disk awaits its operator, or the replica is broken. */
  start(): void {
    if (this.#instance !== null || this.#refused || this.#broken) return;
    const { observer } = this.#options;
    try {
      this.#instance = new EngineInstance({
        ...this.#process,
        disk: this.disk,
        incarnation: this.#incarnation++,
        prng: this.#options.prng.fork(),
        halted: (error) => this.#halted(error),
      });
    } catch (error) {
      if (!(error instanceof StoreCorruptError)) throw error;
      this.#refused = true;
      observer.refused(this.replica, error);
      const { queue, prng, operatorDelayMs, mayStartWiped } = this.#options;
      const machine = this.#machine;
      queue.schedule(prng.between(operatorDelayMs[0], operatorDelayMs[1]), () => {
        // The machine was replaced meanwhile (`rejoin`): the new one has a disk of its own.
        if (machine !== this.#machine) return;
        this.disk.wipe();
        observer.wiped(this.replica);
        const startWhenSafe = (): void => {
          if (machine !== this.#machine) return;
          if (!mayStartWiped(this.replica)) {
            queue.schedule(prng.between(operatorDelayMs[0], operatorDelayMs[1]), startWhenSafe);
            return;
          }
          this.#refused = false;
          this.start();
        };
        startWhenSafe();
      });
      return;
    }
    this.#epoch++;
    observer.changed(this.replica);
  }

  /** The process dies at once, losing what it had not made durable. */
  crash(): void {
    if (this.#instance === null) return;
    this.#instance.kill();
    this.#instance = null;
    this.#epoch++;
    this.#options.observer.changed(this.replica);
  }

  /**
   * The operator added this replica to the validators on a new machine: the old process (a
   * validator removed earlier, still running) is stopped, the disk starts empty, and the new
   * process joins `joining`'s epoch as a learner (`src/protocol/learner.ts`), restarts included.
   */
  rejoin(joining: { readonly epoch: number; readonly opening: Uint8Array }): void {
    const reconfiguration = this.#process.reconfiguration;
    if (reconfiguration === undefined) throw new Error('a rejoin needs a reconfiguring run');
    this.crash();
    this.#machine++;
    this.disk.wipe();
    this.#options.observer.rejoined(this.replica);
    this.#process = { ...this.#process, reconfiguration: { ...reconfiguration, joining } };
    this.#refused = false;
    this.start();
  }

  #halted(error: Error): void {
    const expected = error instanceof SimulatedSyncError || error.cause instanceof SimulatedSyncError;
    this.crash();
    this.#options.observer.halted(this.replica, error, expected);
    if (!expected) {
      this.#broken = true;
      return;
    }
    const { queue, prng, restartDelayMs } = this.#options;
    queue.schedule(prng.between(restartDelayMs[0], restartDelayMs[1]), () => this.start());
  }
}
