/**
 * The engine figures a file may set: a node configuration's `engine` and a cluster file's
 * `consensus`. The schema names the fields and their JSON types, so that a field that is not
 * one is refused and an editor can offer them; the ranges and the rules between fields stay in
 * {@link resolveBftConfig}, which checks every engine however it is configured, so that they
 * are written once. The cluster's identity (node id, validators, cluster id) comes from the
 * cluster file, so it is not among the figures.
 */
import * as z from 'zod';
import { VIOLATION_KINDS } from '../byzantine/index.ts';

/** A whole number; {@link resolveBftConfig} checks its range. */
function count(description: string) {
  return z.int().min(0).optional().meta({ description });
}

export const engineFiguresSchema = z
  .strictObject({
    quorumThreshold: z
      .number()
      .optional()
      .meta({ description: 'The quorum as a fraction of n. Default: the smallest safe quorum, 2f + 1.' }),
    finalityTimeoutMs: count(
      'How long a proposal waits for finality before this replica asks its peers and sends it to all. Default 500.',
    ),
    viewChangeTimeoutMs: count(
      'Time without progress, while work is outstanding, before the leader is replaced. Default 2000.',
    ),
    byzantineDetectionEnabled: z
      .boolean()
      .optional()
      .meta({ description: 'Whether violations are scored and offenders banned. Default true.' }),
    byzantine: z
      .strictObject({
        initialReputationTenths: count('The reputation every replica starts with, in tenths. Default 10.'),
        penaltyTenths: z
          .partialRecord(z.enum(VIOLATION_KINDS), z.int().min(0))
          .optional()
          .meta({ description: 'The reputation each violation costs, in tenths, per kind. Default 1 each.' }),
        banBelowTenths: count('A replica whose reputation is below this, in tenths, is banned. Default 3.'),
        suspicionRecoveryTicks: count(
          'Ticks without a new suspicion for one tenth of suspicion to recover. Default 500.',
        ),
        nonParticipationWindowTicks: count(
          'Ticks after which a replica none of whose votes was accepted is suspected. Default 1000; 0 disables it.',
        ),
      })
      .optional()
      .meta({ description: "The Byzantine detector's figures." }),
    checkpointInterval: count('K: a checkpoint every K sequences. Default 16.'),
    watermarkWindow: count(
      'L: sequences in flight above the stable checkpoint; a multiple of K, at least 2K. Default 2K.',
    ),
    pipelineDepth: count('Sequences the leader keeps in flight at once (at most L). A node uses 2.'),
    pipelineFillVertices: count(
      'While a sequence is in flight, vertices that must wait before the leader proposes another (or a batch of bytes, batchMaxBytes). A node uses batchMaxVertices.',
    ),
    batchMaxVertices: count('Vertices per batch. A node uses 4096.'),
    batchMaxBytes: count('Payload and parent bytes per batch. Default 1 MiB.'),
    batchMaxDelayMs: count(
      'How long the first proposal of a batch at the leader waits for more while a sequence is in flight. A node uses 25.',
    ),
    pendingProposalsMax: count('Proposals accepted and not yet final; more are refused. Default 100,000.'),
    acknowledgeCopies: count(
      "Other validators that hold a vertex durably before it is acknowledged (202). Default f; 0 trusts this node's disk alone.",
    ),
    logRetention: count(
      'Finalized batches kept in the store, in sequences, to serve peers that fall behind.',
    ),
    tickMs: count("The length of the core's tick: the resolution of every timeout. Default 10."),
    maxFrameBytes: count('The largest frame sent or accepted. Default 64 MiB.'),
    vertexPayloadBytesMax: count('Payload bytes of one vertex. Default batchMaxBytes.'),
    vertexParentsMax: count('Parents of one vertex. Default 64.'),
    inboundFramesPerPeerMax: count(
      'Frames from one peer waiting for signature checks; more are dropped. Default 4096.',
    ),
    verifiedCacheMax: count('Verified signatures remembered, so that none is checked twice. Default 65,536.'),
    finalizedBufferMax: count(
      'Finalized vertices buffered per subscriber before it is dropped. Default 65,536.',
    ),
  })
  .meta({ description: 'Engine figures (BftConfig); the node checks their ranges when it starts.' });

/** Engine figures as a file gives them. */
export type EngineFigures = z.output<typeof engineFiguresSchema>;
