/**
 * Byzantine detection: violations, reputation in integer tenths, bans, and evidence that anyone
 * holding the public keys can check. Pure and deterministic, like the protocol core.
 */
export { ByzantineDetector, type DetectorStats, EQUIVOCATION_SLOTS_REMEMBERED } from './detector.ts';
export {
  conflicting,
  type Evidence,
  type EvidenceContext,
  evidenceCopy,
  type InvalidSignatureEvidence,
  provesInvalidSignature,
  slotOf,
  verifyEvidence,
} from './evidence.ts';
export {
  DETECTOR_TICKS_MAX,
  type DetectorConfig,
  type DetectorOptions,
  REPUTATION_TENTHS_MAX,
  resolveDetectorConfig,
} from './options.ts';
export {
  isSuspicion,
  SUSPICION_KINDS,
  VIOLATION_KINDS,
  VIOLATION_OF_REJECT_REASON,
  type ViolationKind,
} from './violations.ts';
