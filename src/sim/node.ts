/**
 * A replica in the simulation, honest or Byzantine, and what the run shares with every replica.
 * Every replica runs the shipped `BftEngine` (`instance.ts`) under a host (`host.ts`); a
 * Byzantine one alters only what goes in and out of its engine (`byzantine/`).
 */
import type { KeyPair, PublicKey, SignatureScheme } from '../crypto/index.ts';
import type { AcceptedProposal, BftConfig, EngineReconfiguration, EngineTestSeams } from '../engine/index.ts';
import type { Vertex } from '../protocol/index.ts';
import type { DecodeLimits } from '../wire/index.ts';
import type { StrategyName } from './byzantine/strategy-names.ts';
import { SimDisk } from './disk.ts';
import type { EventQueue } from './event-queue.ts';
import { type HostObserver, ReplicaHost } from './host.ts';
import type { EngineInstance, InstanceObserver } from './instance.ts';
import type { SimNetwork } from './network.ts';
import type { Prng } from './prng.ts';

/** A replica in the simulation. */
export interface SimNode {
  readonly id: number;
  /** False for a Byzantine replica: the checkers ignore what it finalizes and what it says. */
  readonly honest: boolean;
  /** The Byzantine strategy it plays, or null for an honest replica. */
  readonly strategy: StrategyName | null;
  /** Whether a process of it is up. */
  readonly up: boolean;
  /** Bumped whenever one of its processes starts or dies: frames in flight to an earlier one are lost. */
  readonly epoch: number;
  /** Its hosts: one, or two for twins. */
  readonly hosts: readonly ReplicaHost[];
  /** A frame from `from` arrives. */
  receive(from: number, frame: Uint8Array): void;
  /** Starts a process where none is up (after a crash, or at the end of the fault phase). */
  start(): void;
  /** Kills every process of the replica. */
  crash(): void;
  /**
   * Replaces the replica's machine: an empty disk, a process that joins `joining`'s epoch (see
   * `ReplicaHost.rejoin`). Only honest replicas have it: the operator adds back no other.
   */
  rejoin?(joining: { readonly epoch: number; readonly opening: Uint8Array }): void;
  /** A client's vertex: `engine.accept` at one of its processes, or null while none runs. */
  accept(vertex: Vertex): Promise<AcceptedProposal> | null;
  /**
   * The epoch and view it is in, whether it is active there, and whether it is a validator of
   * that epoch; null while down (or for a Byzantine one).
   */
  viewState(): ViewState | null;
  /** One line on the replica's state, printed when a run stalls or breaks. */
  describe(): string;
}

/** Where a replica stands (see `SimNode.viewState`). */
export interface ViewState {
  readonly epoch: number;
  readonly view: number;
  readonly active: boolean;
  readonly member: boolean;
  /** The node id of the leader of its view. */
  readonly leader: string;
}

/** Everything a replica is built from. */
export interface SimContext {
  readonly queue: EventQueue;
  readonly network: SimNetwork;
  readonly replicaCount: number;
  readonly clusterId: string;
  readonly nodeIds: readonly string[];
  readonly keys: readonly KeyPair[];
  readonly publicKeys: readonly PublicKey[];
  /** Decodes frames the way the engines do, for strategies that read what they alter. */
  readonly limits: DecodeLimits;
  /** The engine configuration of a replica (detection off for a Byzantine one). */
  readonly configFor: (replica: number, honest: boolean) => BftConfig;
  /** Each replica's disk (a twin's second copy gets a disk of its own). */
  readonly disks: readonly SimDisk[];
  /** Random choices: each replica forks its own from here, in id order. */
  readonly prng: Prng;
  readonly observer: InstanceObserver & HostObserver;
  /** Each replica's clock rate (local ms per virtual ms). */
  readonly clockRates: readonly number[];
  readonly syncLatencyMs: readonly [number, number];
  readonly cryptoLatencyMicros: readonly [number, number];
  readonly restartDelayMs: readonly [number, number];
  readonly operatorDelayMs: readonly [number, number];
  /** See `HostOptions.mayStartWiped`. */
  readonly mayStartWiped: (replica: number) => boolean;
  /** FOR TESTS ONLY: deliberately broken engine parts, for every honest replica. */
  readonly testSeams?: EngineTestSeams;
  /** With `--reconfigure`: how replica `replica`'s engine follows reconfigurations. */
  readonly reconfiguration?: (replica: number) => EngineReconfiguration;
}

/** How a replica's host differs from an honest one's. */
export interface HostSpec {
  readonly honest: boolean;
  /** Where its engine's frames go. */
  readonly outgoing: (peers: readonly number[], frame: Uint8Array) => void;
  /** Its disk; by default the replica's. */
  readonly disk?: SimDisk;
  /** What its engine signs with, around the simulated scheme. */
  readonly signer?: (scheme: SignatureScheme) => SignatureScheme;
}

/** A host for replica `replica`. */
export function createHost(context: SimContext, replica: number, spec: HostSpec): ReplicaHost {
  const { honest, outgoing } = spec;
  return new ReplicaHost({
    disk: spec.disk ?? context.disks[replica]!,
    queue: context.queue,
    prng: context.prng.fork(),
    observer: context.observer,
    restartDelayMs: context.restartDelayMs,
    operatorDelayMs: context.operatorDelayMs,
    mayStartWiped: context.mayStartWiped,
    process: {
      replica,
      config: context.configFor(replica, honest),
      keys: context.keys[replica]!,
      publicKeys: context.publicKeys,
      nodeIds: context.nodeIds,
      queue: context.queue,
      network: context.network,
      clockRate: context.clockRates[replica]!,
      syncLatencyMs: context.syncLatencyMs,
      cryptoLatencyMicros: context.cryptoLatencyMicros,
      outgoing,
      observer: context.observer,
      ...(honest && context.testSeams !== undefined ? { testSeams: context.testSeams } : {}),
      ...(spec.signer === undefined ? {} : { signer: spec.signer }),
      ...(context.reconfiguration === undefined ? {} : { reconfiguration: context.reconfiguration(replica) }),
    },
  });
}

/** A second disk for a replica (a twin's copy of the node). */
export function extraDisk(replica: number): SimDisk {
  return new SimDisk(replica);
}

/** One line on one process: view, execution, checkpoint, what it holds. */
export function describeInstance(instance: EngineInstance | null): string {
  if (instance === null) return 'down';
  const status = instance.engine.status();
  return (
    `${status.state} epoch ${status.epoch}${status.member ? '' : ' (left)'} view ${status.view}` +
    `${status.viewActive ? '' : ' (changing)'} executed ${status.sequence} ` +
    `stable ${status.stableCheckpoint} log ${status.logEntries} pending ${status.pendingProposals} ` +
    `banned [${status.banned.join(' ')}]`
  );
}
