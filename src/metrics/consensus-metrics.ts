/**
 * The engine's Prometheus metrics, built by one factory per registry (Lodestar's
 * `createXMetrics(registry)`): the first design's set, in Prometheus base units (seconds,
 * totals), plus what an operator needs to tell a healthy cluster from a stuck one.
 *
 * Names are part of the public surface (dashboards and alerts query them): never rename one
 * once released; add a new one instead.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { VIOLATION_KINDS } from '../byzantine/violations.ts';

/** Finality buckets of the first design, in seconds. */
export const FINALITY_BUCKETS_SECONDS = Object.freeze([0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2, 5]);

/** Signature checks take tens of microseconds to a few milliseconds. */
export const SIGNATURE_BUCKETS_SECONDS = Object.freeze([
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
]);

/** Vertices per batch, up to the default batch limit of 1,024. */
export const BATCH_SIZE_BUCKETS = Object.freeze([1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);

/** What happened to a received message. */
export const MESSAGE_OUTCOMES = Object.freeze([
  'accepted',
  'ignored',
  'rejected',
  'malformed',
  'invalid-signature',
  'banned',
  'unknown-sender',
  // A PREPARE or COMMIT its certificate did not need, kept aside unchecked (`vote-gate.ts`).
  'surplus',
] as const);
export type MessageOutcome = (typeof MESSAGE_OUTCOMES)[number];

export interface ConsensusMetrics {
  /** Batches this replica proposed as primary (PRE-PREPAREs sent). */
  readonly proposalsSent: Counter;
  readonly verticesFinalized: Counter;
  readonly preparesSent: Counter;
  readonly commitsSent: Counter;
  /**
   * From `propose()` at this replica to finality here, in seconds: only vertices proposed at this
   * replica (for a node, submitted to it); vertices other replicas proposed are not observed.
   */
  readonly finalityTime: Histogram;
  readonly byzantineViolations: Counter<'kind'>;
  readonly bannedNodes: Gauge;
  readonly viewChanges: Counter;
  readonly currentView: Gauge;
  /** The highest finalized (executed) sequence. */
  readonly currentSequence: Gauge;
  readonly stableCheckpoint: Gauge;
  readonly pendingProposals: Gauge;
  readonly peersConnected: Gauge;
  readonly messagesReceived: Counter<'type' | 'outcome'>;
  readonly messagesSent: Counter<'type'>;
  readonly signatureVerifySeconds: Histogram;
  readonly batchSize: Histogram;
  /** Each validator's reputation as this replica sees it, 0 to 1. */
  readonly reputation: Gauge<'node'>;
}

/**
 * Registers the consensus metrics in `registry` and returns them. Call once per registry: a
 * second call on the same registry throws, as prom-client refuses duplicate names.
 */
export function createConsensusMetrics(registry: Registry): ConsensusMetrics {
  const registers = [registry];
  const metrics: ConsensusMetrics = {
    proposalsSent: new Counter({
      name: 'consensus_proposals_sent_total',
      help: 'Batches proposed by this replica as primary (PRE-PREPARE messages sent).',
      registers,
    }),
    verticesFinalized: new Counter({
      name: 'consensus_vertices_finalized_total',
      help: 'Vertices finalized (delivered in the total order) by this replica.',
      registers,
    }),
    preparesSent: new Counter({
      name: 'consensus_prepares_sent_total',
      help: 'PREPARE messages sent by this replica.',
      registers,
    }),
    commitsSent: new Counter({
      name: 'consensus_commits_sent_total',
      help: 'COMMIT messages sent by this replica.',
      registers,
    }),
    finalityTime: new Histogram({
      name: 'consensus_finality_time_seconds',
      help:
        'Time from propose() at this replica until the vertex is final here, in seconds. Counts only ' +
        'vertices proposed at this replica (for a node: submitted to it), not those proposed elsewhere.',
      buckets: [...FINALITY_BUCKETS_SECONDS],
      registers,
    }),
    byzantineViolations: new Counter({
      name: 'consensus_byzantine_violations_total',
      help: 'Byzantine violations recorded by this replica, by kind.',
      labelNames: ['kind'],
      registers,
    }),
    bannedNodes: new Gauge({
      name: 'consensus_banned_nodes',
      help: 'Validators this replica has banned (their messages are dropped).',
      registers,
    }),
    viewChanges: new Counter({
      name: 'consensus_view_changes_total',
      help: 'View changes this replica started.',
      registers,
    }),
    currentView: new Gauge({
      name: 'consensus_current_view',
      help: 'The view this replica is in (or changing to).',
      registers,
    }),
    currentSequence: new Gauge({
      name: 'consensus_current_sequence',
      help: 'The highest sequence this replica has finalized.',
      registers,
    }),
    stableCheckpoint: new Gauge({
      name: 'consensus_stable_checkpoint',
      help: 'The sequence of the latest stable checkpoint (the low watermark).',
      registers,
    }),
    pendingProposals: new Gauge({
      name: 'consensus_pending_proposals',
      help: 'Proposals accepted by this replica and not yet final.',
      registers,
    }),
    peersConnected: new Gauge({
      name: 'consensus_peers_connected',
      help: 'Validators this replica currently has a connection to.',
      registers,
    }),
    messagesReceived: new Counter({
      name: 'consensus_messages_received_total',
      help: 'Consensus messages received, by message type and what became of them.',
      labelNames: ['type', 'outcome'],
      registers,
    }),
    messagesSent: new Counter({
      name: 'consensus_messages_sent_total',
      help: 'Consensus messages sent, by message type (a broadcast counts once).',
      labelNames: ['type'],
      registers,
    }),
    signatureVerifySeconds: new Histogram({
      name: 'consensus_signature_verify_seconds',
      help: 'Time to verify the signatures of one received message.',
      buckets: [...SIGNATURE_BUCKETS_SECONDS],
      registers,
    }),
    batchSize: new Histogram({
      name: 'consensus_batch_size_vertices',
      help: 'Vertices per batch finalized by this replica.',
      buckets: [...BATCH_SIZE_BUCKETS],
      registers,
    }),
    reputation: new Gauge({
      name: 'consensus_node_reputation',
      help: 'Reputation of each validator as this replica sees it (1 = clean; below 0.3 = banned).',
      labelNames: ['node'],
      registers,
    }),
  };
  // Series that exist from the start read 0 rather than missing, so rate() and alerts work
  // before the first violation.
  for (const kind of VIOLATION_KINDS) metrics.byzantineViolations.inc({ kind }, 0);
  return metrics;
}
