/** Prometheus metrics for the consensus engine (prom-client), built per registry. */
export {
  BATCH_SIZE_BUCKETS,
  type ConsensusMetrics,
  createConsensusMetrics,
  FINALITY_BUCKETS_SECONDS,
  MESSAGE_OUTCOMES,
  type MessageOutcome,
  SIGNATURE_BUCKETS_SECONDS,
} from './consensus-metrics.ts';
