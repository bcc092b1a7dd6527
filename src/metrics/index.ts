/** Prometheus metrics for the consensus engine and its transport (prom-client), built per registry. */
export {
  BATCH_SIZE_BUCKETS,
  type ConsensusMetrics,
  createConsensusMetrics,
  FINALITY_BUCKETS_SECONDS,
  MESSAGE_OUTCOMES,
  type MessageOutcome,
  SIGNATURE_BUCKETS_SECONDS,
} from './consensus-metrics.ts';
export {
  createTransportMetrics,
  type TransportMetrics,
  type TransportStatsSource,
} from './transport-metrics.ts';
