/**
 * The engine's configuration: the first design's `BftConfig` with its defaults, resolved into
 * the protocol core's configuration (milliseconds mapped to ticks) and the decoder's limits.
 * Every value is checked at construction; a bad one throws a {@link ConfigError} naming the
 * `BftConfig` field to fix.
 */

import { resolveDetectorConfig } from '../byzantine/index.ts';
import { integerField } from '../protocol/errors.ts';
import { ConfigError, NOT_A_VALIDATOR, type ReplicaConfig, resolveReplicaConfig } from '../protocol/index.ts';
import { type DecodeLimits, decodeLimitsFor, encodedSizeBound } from '../wire/index.ts';
import type { ByzantineOptions } from './create-detector.ts';

/** What an application passes to `new BftEngine`; every field but `nodeId` has a default. */
export interface BftConfig {
  /** This node's id: one of `validators`. */
  readonly nodeId: string;
  /**
   * The validators' node ids, in order: the leader of view v is `validators[v mod n]`. Every
   * node of a cluster must list them in the same order.
   */
  readonly validators?: readonly string[];
  /** Instead of `validators`: n, with validators named `'0'` to `'n-1'`. */
  readonly totalNodes?: number;
  /** Binds every signature to this cluster. 1 to 64 bytes of UTF-8. Default `'cretoai'`. */
  readonly clusterId?: string;
  /**
   * The quorum as a fraction of n. Refused when it gives a quorum below the safe one (two
   * quorums must share a correct replica) or above n - f. Default: the smallest safe quorum,
   * 2f + 1 for n = 3f + 1 (what the first design's 0.67 means, for every n).
   */
  readonly quorumThreshold?: number;
  /**
   * How long a proposal may wait for finality before this replica acts: it asks its peers for
   * what it misses and sends its pending vertices to every replica, not only the leader.
   * Must be below `viewChangeTimeoutMs`. Default 500.
   */
  readonly finalityTimeoutMs?: number;
  /** Time without progress, while work is outstanding, before the leader is replaced. Default 2000. */
  readonly viewChangeTimeoutMs?: number;
  /**
   * Time without a transport connection to the leader after which this replica gives up on the
   * view at once (the view is left when a quorum has): a leader whose process died is replaced
   * about this long after, not a view-change timeout after. 0 turns it off. Default 500.
   */
  readonly primaryUnreachableMs?: number;
  /** Whether violations are scored and offenders banned. Default true. */
  readonly byzantineDetectionEnabled?: boolean;
  /**
   * The detector's figures, in integer tenths of reputation and in ticks: `initialReputationTenths`
   * (10), `penaltyTenths` per kind (1 each), `banBelowTenths` (3), `suspicionRecoveryTicks` (500),
   * `nonParticipationWindowTicks` (1000). Errors name them as `byzantine.<field>`.
   */
  readonly byzantine?: ByzantineOptions;
  /** K: a checkpoint every K sequences. Default 16. */
  readonly checkpointInterval?: number;
  /** L: sequences in flight above the stable checkpoint. A multiple of K, at least 2K. Default 2K. */
  readonly watermarkWindow?: number;
  /**
   * Sequences the leader keeps in flight at once (at most L). Default min(4, L): every sequence
   * costs each replica about eight ML-DSA-87 signatures or checks whatever its size, so a
   * shallow pipeline that lets batches grow while earlier ones finish gives lower finality
   * than a deep one of small batches, for a somewhat lower peak (docs/benchmarks.md). A node
   * process, whose store syncs three times a sequence, uses 2 (see `src/node/config.ts`).
   */
  readonly pipelineDepth?: number;
  /**
   * While a sequence is in flight, the leader proposes another only when at least this many
   * vertices wait, or a batch's bytes (batchMaxBytes) do; fewer wait for the pipeline to drain
   * (at most one round). Default 1 (a batch whenever the pipeline has room); a node process uses
   * batchMaxVertices (see `src/node/config.ts`). At most batchMaxVertices.
   */
  readonly pipelineFillVertices?: number;
  /** Vertices per batch. Default 1024 (a node process uses 4096: see `src/node/config.ts`). */
  readonly batchMaxVertices?: number;
  /** Payload and parent bytes per batch. Default 1 MiB. */
  readonly batchMaxBytes?: number;
  /**
   * How long the first proposal of a batch at the primary waits for more before the batch goes,
   * while a sequence is in flight (otherwise, and at a backup, the batch goes at the end of the
   * turn). 0: end of turn. Default 10: every batch costs a step, so under load a shorter window
   * spends CPU on many small batches and raises the tail, while a light load's finality does not
   * change (docs/benchmarks.md). A node process, whose store syncs three times a sequence, uses
   * 25 (see `src/node/config.ts`).
   */
  readonly batchMaxDelayMs?: number;
  /** Proposals accepted and not yet final; more are refused with code 'full'. Default 100,000. */
  readonly pendingProposalsMax?: number;
  /**
   * Other validators that must hold a vertex durably before `accept` resolves (and a node
   * answers 202). Default f: with this replica's own copy, f + 1 copies, so losing the disks of
   * any f validators loses no accepted vertex. 0 resolves on this replica's own write, which
   * survives its crash but not the loss of its disk. At most n - 1.
   */
  readonly acknowledgeCopies?: number;
  /**
   * How many sequences a vertex may stay valid (its `validThrough` at most this far past the
   * last finalized sequence), and how many sequences of finalized vertex hashes every replica
   * remembers so that none is finalized twice: the memory bound of exactly-once delivery, at
   * most this many times batchMaxVertices hashes. More than watermarkWindow. Default 2,048.
   */
  readonly dedupHorizonSequences?: number;
  /**
   * Finalized batches kept in the store, in sequences, to serve peers that fall behind. At least
   * the protocol's dedup window (4L). Default max(1024, 4L).
   */
  readonly logRetention?: number;
  /** The length of the core's tick: the resolution of every timeout. Default 10. */
  readonly tickMs?: number;
  /**
   * The largest frame sent or accepted. Checked against the worst-case VIEW-CHANGE, NEW-VIEW
   * and PRE-PREPARE for n, L and the batch limits (ML-DSA-87 signatures do not aggregate, so a
   * NEW-VIEW grows with n^2 L). Default 64 MiB.
   */
  readonly maxFrameBytes?: number;
  /** Payload bytes of one vertex. Default `batchMaxBytes`. */
  readonly vertexPayloadBytesMax?: number;
  /** Parents of one vertex. Default 64. */
  readonly vertexParentsMax?: number;
  /** Frames from one peer waiting for signature checks; more are dropped. Default 4096. */
  readonly inboundFramesPerPeerMax?: number;
  /** Verified signatures remembered, so that none is checked twice. Default 65,536. */
  readonly verifiedCacheMax?: number;
  /** Finalized vertices buffered per subscriber of `finalized()` before it is dropped. Default 65,536. */
  readonly finalizedBufferMax?: number;
}

/** The configuration after defaults and checks. */
export interface ResolvedBftConfig {
  readonly nodeId: string;
  readonly validators: readonly string[];
  /**
   * This node's index in `validators`: its replica id; `NOT_A_VALIDATOR` for a node that joins
   * at a later epoch and is none of them.
   */
  readonly self: number;
  readonly clusterId: string;
  readonly finalityTimeoutMs: number;
  readonly viewChangeTimeoutMs: number;
  readonly primaryUnreachableMs: number;
  readonly byzantineDetectionEnabled: boolean;
  readonly batchMaxVertices: number;
  readonly batchMaxBytes: number;
  readonly batchMaxDelayMs: number;
  readonly pendingProposalsMax: number;
  readonly logRetention: number;
  readonly tickMs: number;
  readonly maxFrameBytes: number;
  readonly vertexPayloadBytesMax: number;
  readonly vertexParentsMax: number;
  readonly inboundFramesPerPeerMax: number;
  readonly verifiedCacheMax: number;
  readonly finalizedBufferMax: number;
  /** The protocol core's configuration. */
  readonly replica: ReplicaConfig;
  /** What the decoder accepts. */
  readonly limits: DecodeLimits;
}

const FRAME_LENGTH_LIMIT = 0xffff_ffff;

const integer = integerField;

/** The protocol core's field names, as the `BftConfig` fields they come from. */
const CORE_FIELD_NAMES: Readonly<Record<string, string>> = Object.freeze({
  replicaCount: 'validators',
  self: 'nodeId',
  batchCountMax: 'batchMaxVertices',
  pipelineFillCount: 'pipelineFillVertices',
  batchBytesMax: 'batchMaxBytes',
  pendingVerticesMax: 'pendingProposalsMax',
  viewChangeTimeoutTicks: 'viewChangeTimeoutMs',
  viewChangeTimeoutMaxTicks: 'viewChangeTimeoutMs',
  statusIntervalTicks: 'finalityTimeoutMs',
  requestRetryTicks: 'finalityTimeoutMs',
  stateTransferTimeoutTicks: 'finalityTimeoutMs',
  dedupHorizonSequences: 'dedupHorizonSequences',
  acknowledgeCopies: 'acknowledgeCopies',
});

function validatorsOf(config: BftConfig): readonly string[] {
  if (config.validators !== undefined) {
    if (!Array.isArray(config.validators) || config.validators.length === 0) {
      throw new ConfigError('validators', 'must be a non-empty list of node ids');
    }
    const seen = new Set<string>();
    for (const id of config.validators) {
      if (typeof id !== 'string' || id.length === 0) {
        throw new ConfigError('validators', `every node id must be a non-empty string, got ${String(id)}`);
      }
      if (seen.has(id)) throw new ConfigError('validators', `node id ${id} appears twice`);
      seen.add(id);
    }
    if (config.totalNodes !== undefined && config.totalNodes !== config.validators.length) {
      throw new ConfigError(
        'totalNodes',
        `is ${config.totalNodes} but validators lists ${config.validators.length} nodes`,
      );
    }
    return Object.freeze([...config.validators]);
  }
  if (config.totalNodes === undefined) {
    throw new ConfigError('validators', 'give the validators (or totalNodes)');
  }
  const n = integer('totalNodes', config.totalNodes, 0, 1, 1024);
  return Object.freeze(Array.from({ length: n }, (_, i) => String(i)));
}

/**
 * Applies defaults and checks every field.
 *
 * @param signatureBytes - the signature scheme's signature length (frames carry signatures).
 * @param joining - the node joins the validators at a later epoch (`EngineReconfiguration.joining`),
 *   so it need not be one of `validators`, epoch 0's.
 * @throws ConfigError naming the first `BftConfig` field that is wrong.
 */
export function resolveBftConfig(
  config: BftConfig,
  signatureBytes: number,
  { joining = false }: { readonly joining?: boolean } = {},
): ResolvedBftConfig {
  if (config === null || typeof config !== 'object') throw new ConfigError('nodeId', 'config is missing');
  if (typeof config.nodeId !== 'string' || config.nodeId.length === 0) {
    throw new ConfigError('nodeId', 'must be a non-empty string');
  }
  const validators = validatorsOf(config);
  const index = validators.indexOf(config.nodeId);
  if (index < 0 && !joining) throw new ConfigError('nodeId', `${config.nodeId} is not one of the validators`);
  // A joiner is a learner until its epoch, whatever its place in epoch 0 (see `createReplica`).
  const self = joining ? NOT_A_VALIDATOR : index;
  // The figures are checked as for a validator; which one does not change them.
  const checkedAs = Math.max(index, 0);
  const clusterId = config.clusterId ?? 'cretoai';

  const tickMs = integer('tickMs', config.tickMs, 10, 1, 60_000);
  const viewChangeTimeoutMs = integer(
    'viewChangeTimeoutMs',
    config.viewChangeTimeoutMs,
    2000,
    tickMs,
    3_600_000,
  );
  const primaryUnreachableMs = integer(
    'primaryUnreachableMs',
    config.primaryUnreachableMs,
    500,
    0,
    3_600_000,
  );
  const finalityTimeoutMs = integer('finalityTimeoutMs', config.finalityTimeoutMs, 500, tickMs, 3_600_000);
  if (finalityTimeoutMs >= viewChangeTimeoutMs) {
    throw new ConfigError(
      'finalityTimeoutMs',
      `must be below viewChangeTimeoutMs (${viewChangeTimeoutMs}), got ${finalityTimeoutMs}: a replica ` +
        'retries its proposals before it gives up on the leader',
    );
  }
  if (
    config.byzantineDetectionEnabled !== undefined &&
    typeof config.byzantineDetectionEnabled !== 'boolean'
  ) {
    throw new ConfigError('byzantineDetectionEnabled', 'must be true or false');
  }
  const batchMaxVertices = integer('batchMaxVertices', config.batchMaxVertices, 1024, 1, 65_535);
  const batchMaxBytes = integer('batchMaxBytes', config.batchMaxBytes, 1 << 20, 1, 1 << 30);
  const batchMaxDelayMs = integer('batchMaxDelayMs', config.batchMaxDelayMs, 10, 0, 60_000);
  const pendingProposalsMax = integer('pendingProposalsMax', config.pendingProposalsMax, 100_000, 1, 1 << 24);
  const vertexPayloadBytesMax = integer(
    'vertexPayloadBytesMax',
    config.vertexPayloadBytesMax,
    batchMaxBytes,
    0,
    batchMaxBytes,
  );
  const vertexParentsMax = integer('vertexParentsMax', config.vertexParentsMax, 64, 0, 0xffff);
  const ticks = (ms: number): number => Math.max(1, Math.ceil(ms / tickMs));

  let replica: ReplicaConfig;
  try {
    replica = resolveReplicaConfig({
      clusterId,
      replicaCount: validators.length,
      self: checkedAs,
      quorumThreshold: config.quorumThreshold,
      checkpointInterval: config.checkpointInterval,
      watermarkWindow: config.watermarkWindow,
      pipelineDepth:
        config.pipelineDepth ?? Math.min(4, config.watermarkWindow ?? 2 * (config.checkpointInterval ?? 16)),
      pipelineFillCount: config.pipelineFillVertices,
      batchCountMax: batchMaxVertices,
      batchBytesMax: batchMaxBytes,
      viewChangeTimeoutTicks: ticks(viewChangeTimeoutMs),
      statusIntervalTicks: ticks(finalityTimeoutMs),
      requestRetryTicks: ticks(finalityTimeoutMs),
      stateTransferTimeoutTicks: ticks(finalityTimeoutMs),
      pendingVerticesMax: pendingProposalsMax,
      acknowledgeCopies: config.acknowledgeCopies,
      dedupHorizonSequences: config.dedupHorizonSequences,
    });
  } catch (error) {
    if (error instanceof ConfigError && CORE_FIELD_NAMES[error.field] !== undefined) {
      // The core names its own fields; say which BftConfig field to change instead.
      const detail = error.message.slice(error.field.length + 2);
      throw new ConfigError(CORE_FIELD_NAMES[error.field]!, `${detail} (core ${error.field})`);
    }
    throw error;
  }

  if (config.byzantine !== undefined) {
    try {
      resolveDetectorConfig({ ...config.byzantine, replicaCount: validators.length, self: checkedAs });
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      throw new ConfigError(`byzantine.${error.field}`, error.message.slice(error.field.length + 2));
    }
  }

  const logRetention = integer(
    'logRetention',
    config.logRetention,
    Math.max(1024, replica.dedupHorizonSequences),
    replica.dedupHorizonSequences,
    Number.MAX_SAFE_INTEGER,
  );
  const maxFrameBytes = integer('maxFrameBytes', config.maxFrameBytes, 64 << 20, 1, FRAME_LENGTH_LIMIT);
  const limitOptions = {
    replicaCount: validators.length,
    maxSignatureBytes: signatureBytes,
    batchCountMax: batchMaxVertices,
    batchBytesMax: batchMaxBytes,
    vertexPayloadBytesMax,
    vertexParentsMax,
    watermarkWindow: replica.watermarkWindow,
    stateEntriesMax: replica.stateEntriesMax,
  };
  // The largest messages the protocol must be able to send: a full batch, and the view-change
  // messages whose certificates grow with n and L. A frame limit below them would let a view
  // change fail for good, so it is refused here rather than discovered in an outage.
  const unbounded = decodeLimitsFor({ ...limitOptions, maxFrameBytes: FRAME_LENGTH_LIMIT });
  for (const kind of ['pre-prepare', 'view-change', 'new-view'] as const) {
    const needed = encodedSizeBound(kind, unbounded);
    if (needed > maxFrameBytes) {
      throw new ConfigError(
        'maxFrameBytes',
        `is ${maxFrameBytes}, but a ${kind} for ${validators.length} validators, watermarkWindow ` +
          `${replica.watermarkWindow} and batchMaxBytes ${batchMaxBytes} can take ${needed} bytes: raise ` +
          'maxFrameBytes or lower watermarkWindow (or batchMaxBytes)',
      );
    }
  }

  return Object.freeze({
    nodeId: config.nodeId,
    validators,
    self,
    clusterId,
    finalityTimeoutMs,
    viewChangeTimeoutMs,
    primaryUnreachableMs,
    byzantineDetectionEnabled: config.byzantineDetectionEnabled ?? true,
    batchMaxVertices,
    batchMaxBytes,
    batchMaxDelayMs,
    pendingProposalsMax,
    logRetention,
    tickMs,
    maxFrameBytes,
    vertexPayloadBytesMax,
    vertexParentsMax,
    inboundFramesPerPeerMax: integer(
      'inboundFramesPerPeerMax',
      config.inboundFramesPerPeerMax,
      4096,
      1,
      1 << 24,
    ),
    verifiedCacheMax: integer('verifiedCacheMax', config.verifiedCacheMax, 65_536, 0, 1 << 24),
    finalizedBufferMax: integer('finalizedBufferMax', config.finalizedBufferMax, 65_536, 1, 1 << 26),
    replica,
    limits: decodeLimitsFor({ ...limitOptions, maxFrameBytes }),
  });
}
