/**
 * The protocol core's configuration: what the replica needs to know about its cluster, and a
 * bound on everything it keeps. Time is counted in ticks; the shell decides how long a tick is.
 */
import type { ReconfigurationOptions } from './epochs.ts';
import { ConfigError, integerField } from './errors.ts';
import { type QuorumSizes, quorumSizes } from './quorum.ts';
import type { ReplicaId } from './types.ts';

/** What a caller passes; every field with a default may be left out. */
export interface ReplicaOptions {
  /** Binds every signature and the genesis digest to one cluster. 1 to 64 bytes of UTF-8. */
  readonly clusterId: string;
  /** n: the number of replicas. */
  readonly replicaCount: number;
  /** This replica's index. */
  readonly self: ReplicaId;
  /** The quorum as a fraction of n; refused if unsafe. Default: the smallest safe quorum. */
  readonly quorumThreshold?: number;
  /** K: a CHECKPOINT is taken every K sequences. Default 16. */
  readonly checkpointInterval?: number;
  /** L: sequences accepted above the low watermark. A multiple of K, at least 2K. Default 32. */
  readonly watermarkWindow?: number;
  /** Sequences the primary keeps in flight (proposed, not yet executed). At most L. Default 16. */
  readonly pipelineDepth?: number;
  /**
   * While a sequence is in flight, the primary proposes another only when at least this many
   * vertices wait, or a batch's bytes (batchBytesMax) do; fewer wait for the pipeline to drain.
   * At most batchCountMax. Default 1.
   */
  readonly pipelineFillCount?: number;
  /** Vertices per batch. Default 1024. */
  readonly batchCountMax?: number;
  /** Payload and parent bytes per batch. Default 1 MiB. */
  readonly batchBytesMax?: number;
  /** Ticks without progress, while work is outstanding, before a view change. Default 200. */
  readonly viewChangeTimeoutTicks?: number;
  /** The back-off cap: the timeout doubles per failed view change up to this. Default 3200. */
  readonly viewChangeTimeoutMaxTicks?: number;
  /** Ticks without progress before a replica asks its peers for what it misses. Default 50. */
  readonly statusIntervalTicks?: number;
  /** Ticks a client vertex waits before it is sent to every replica, not only the primary. Default 100. */
  readonly requestRetryTicks?: number;
  /** Ticks before a state-transfer request is sent again, to the next peer. Default 100. */
  readonly stateTransferTimeoutTicks?: number;
  /**
   * Finalized entries per STATE-REPLY (a reply also stops at batchMaxBytes of batches). A
   * replica behind asks for the next range only once a reply is applied, so this sets how
   * many sequences one round trip brings. Default 64.
   */
  readonly stateEntriesMax?: number;
  /** Client vertices this replica holds until they are final. Default 100,000. */
  readonly pendingVerticesMax?: number;
  /** Vertices the primary queues for ordering, per replica that sent them. Default 50,000. */
  readonly queuedVerticesPerReplicaMax?: number;
  /** Vertices a replica watches for another replica, per replica. Default 10,000. */
  readonly watchedVerticesPerReplicaMax?: number;
  /**
   * Other replicas that must hold a client vertex durably before this replica acknowledges it
   * (see `requests.ts`). Default f: with this replica's own copy, f + 1 copies, so that losing
   * the disks of any f replicas loses no acknowledged vertex. 0 acknowledges once this
   * replica's own write is durable, which survives its crash but not the loss of its disk.
   * At most n - 1.
   */
  readonly acknowledgeCopies?: number;
  /**
   * How far ahead a vertex's validThrough may lie: a vertex is finalized only at a sequence s
   * with s <= validThrough < s + dedupHorizonSequences, and the replicas remember every vertex
   * finalized in the last dedupHorizonSequences sequences, so none is ever finalized twice.
   * The memory this takes is at most dedupHorizonSequences x batchCountMax hashes. Must exceed
   * L. Default 2,048.
   */
  readonly dedupHorizonSequences?: number;
  /**
   * How the replica reads reconfiguration requests (see `epochs.ts`). Absent, a request is an
   * ordinary vertex and the replica stays in epoch 0.
   */
  readonly reconfiguration?: ReconfigurationOptions;
}

/** The configuration after defaults and validation. */
export interface ReplicaConfig extends QuorumSizes {
  readonly clusterId: string;
  readonly self: ReplicaId;
  readonly checkpointInterval: number;
  readonly watermarkWindow: number;
  readonly pipelineDepth: number;
  readonly pipelineFillCount: number;
  readonly batchCountMax: number;
  readonly batchBytesMax: number;
  readonly viewChangeTimeoutTicks: number;
  readonly viewChangeTimeoutMaxTicks: number;
  readonly statusIntervalTicks: number;
  readonly requestRetryTicks: number;
  readonly stateTransferTimeoutTicks: number;
  readonly stateEntriesMax: number;
  readonly pendingVerticesMax: number;
  readonly queuedVerticesPerReplicaMax: number;
  readonly watchedVerticesPerReplicaMax: number;
  readonly acknowledgeCopies: number;
  readonly dedupHorizonSequences: number;
  readonly reconfiguration: ReconfigurationOptions | null;
}

function positiveInteger(field: string, value: number | undefined, fallback: number, max?: number): number {
  return integerField(field, value, fallback, 1, max);
}

/**
 * The `self` of a replica that has no id in its epoch: a learner walking the history towards the
 * epoch it joins (`learner.ts`). It signs nothing, and no replica id ever equals it.
 */
export const NOT_A_VALIDATOR = -1;

/** The largest cluster the wire format addresses (replica ids are 16-bit). */
export const REPLICA_COUNT_MAX = 1024;

/**
 * Applies defaults and checks every field, throwing a {@link ConfigError} that names the
 * first field that is wrong.
 */
export function resolveReplicaConfig(options: ReplicaOptions): ReplicaConfig {
  const clusterBytes = new TextEncoder().encode(options.clusterId ?? '').length;
  if (typeof options.clusterId !== 'string' || clusterBytes < 1 || clusterBytes > 64) {
    throw new ConfigError('clusterId', 'must be 1 to 64 bytes of UTF-8');
  }
  const replicaCount = positiveInteger('replicaCount', options.replicaCount, 0, REPLICA_COUNT_MAX);
  const sizes = quorumSizes(replicaCount, options.quorumThreshold);
  const learner = options.self === NOT_A_VALIDATOR && options.reconfiguration?.joining !== undefined;
  if (!learner && (!Number.isInteger(options.self) || options.self < 0 || options.self >= replicaCount)) {
    throw new ConfigError('self', `must be an index in [0, ${replicaCount}), got ${String(options.self)}`);
  }
  const checkpointInterval = positiveInteger('checkpointInterval', options.checkpointInterval, 16, 1 << 20);
  const watermarkWindow = positiveInteger('watermarkWindow', options.watermarkWindow, 2 * checkpointInterval);
  if (watermarkWindow % checkpointInterval !== 0 || watermarkWindow < 2 * checkpointInterval) {
    throw new ConfigError(
      'watermarkWindow',
      `must be a multiple of checkpointInterval (${checkpointInterval}) and at least twice it, got ${watermarkWindow}`,
    );
  }
  const pipelineDepth = positiveInteger(
    'pipelineDepth',
    options.pipelineDepth,
    Math.min(16, watermarkWindow),
  );
  if (pipelineDepth > watermarkWindow) {
    throw new ConfigError(
      'pipelineDepth',
      `must be at most watermarkWindow (${watermarkWindow}), got ${pipelineDepth}`,
    );
  }
  const batchCountMax = positiveInteger('batchCountMax', options.batchCountMax, 1024, 65_535);
  const pipelineFillCount = positiveInteger('pipelineFillCount', options.pipelineFillCount, 1, batchCountMax);
  const viewChangeTimeoutTicks = positiveInteger(
    'viewChangeTimeoutTicks',
    options.viewChangeTimeoutTicks,
    200,
  );
  const viewChangeTimeoutMaxTicks = positiveInteger(
    'viewChangeTimeoutMaxTicks',
    options.viewChangeTimeoutMaxTicks,
    Math.max(16 * viewChangeTimeoutTicks, viewChangeTimeoutTicks),
  );
  if (viewChangeTimeoutMaxTicks < viewChangeTimeoutTicks) {
    throw new ConfigError('viewChangeTimeoutMaxTicks', 'must be at least viewChangeTimeoutTicks');
  }
  const dedupHorizonSequences = positiveInteger(
    'dedupHorizonSequences',
    options.dedupHorizonSequences,
    Math.max(2048, 4 * watermarkWindow),
  );
  if (dedupHorizonSequences <= watermarkWindow) {
    throw new ConfigError('dedupHorizonSequences', `must exceed watermarkWindow (${watermarkWindow})`);
  }
  const reconfiguration = options.reconfiguration ?? null;
  if (reconfiguration !== null) {
    const { nodes, node, joining } = reconfiguration;
    if (nodes.length !== replicaCount || new Set(nodes).size !== nodes.length) {
      throw new ConfigError(
        'reconfiguration',
        `must name ${replicaCount} distinct node ids, one per replica`,
      );
    }
    if (learner && node === undefined)
      throw new ConfigError('reconfiguration', 'a joiner must name its node id');
    if (joining !== undefined && (!Number.isInteger(joining.epoch) || joining.epoch < 1)) {
      throw new ConfigError('reconfiguration', `joins at epoch ${joining.epoch}, which must be 1 or more`);
    }
    if (joining !== undefined && !joining.nodes.includes(node ?? nodes[options.self] ?? '')) {
      throw new ConfigError(
        'reconfiguration',
        `joins epoch ${joining.epoch}, whose validators do not include it`,
      );
    }
  }
  return {
    ...sizes,
    clusterId: options.clusterId,
    self: options.self,
    checkpointInterval,
    watermarkWindow,
    pipelineDepth,
    pipelineFillCount,
    batchCountMax,
    batchBytesMax: positiveInteger('batchBytesMax', options.batchBytesMax, 1 << 20),
    viewChangeTimeoutTicks,
    viewChangeTimeoutMaxTicks,
    statusIntervalTicks: positiveInteger('statusIntervalTicks', options.statusIntervalTicks, 50),
    requestRetryTicks: positiveInteger('requestRetryTicks', options.requestRetryTicks, 100),
    stateTransferTimeoutTicks: positiveInteger(
      'stateTransferTimeoutTicks',
      options.stateTransferTimeoutTicks,
      100,
    ),
    stateEntriesMax: positiveInteger('stateEntriesMax', options.stateEntriesMax, 64, 4096),
    pendingVerticesMax: positiveInteger('pendingVerticesMax', options.pendingVerticesMax, 100_000),
    queuedVerticesPerReplicaMax: positiveInteger(
      'queuedVerticesPerReplicaMax',
      options.queuedVerticesPerReplicaMax,
      50_000,
    ),
    watchedVerticesPerReplicaMax: positiveInteger(
      'watchedVerticesPerReplicaMax',
      options.watchedVerticesPerReplicaMax,
      10_000,
    ),
    acknowledgeCopies: integerField(
      'acknowledgeCopies',
      options.acknowledgeCopies,
      sizes.faultTolerance,
      0,
      replicaCount - 1,
    ),
    dedupHorizonSequences,
    reconfiguration,
  };
}

/** The primary of `view`: round-robin over the replicas. */
export function primaryOf(config: { readonly replicaCount: number }, view: number): ReplicaId {
  return view % config.replicaCount;
}
