/**
 * Label values known up front. The violation kinds mirror the Byzantine detector's
 * `VIOLATION_KINDS`; they are listed here so that metrics do not depend on the detector.
 */
export const VIOLATION_KIND_LABELS = Object.freeze([
  'equivocation',
  'invalid-signature',
  'timeout',
  'malformed-message',
  'non-participation',
] as const);
