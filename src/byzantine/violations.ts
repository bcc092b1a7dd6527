/**
 * The kinds of misbehaviour the detector scores, and which of them are proven (or locally
 * certain) and which are only suspected.
 */
import type { RejectReason } from '../protocol/index.ts';

/** Every violation kind, in a fixed order (stats and metrics list them in this order). */
export const VIOLATION_KINDS = Object.freeze([
  'equivocation',
  'invalid-signature',
  'timeout',
  'malformed-message',
  'non-participation',
] as const);

/** One kind of violation. */
export type ViolationKind = (typeof VIOLATION_KINDS)[number];

/**
 * Violations nobody can prove and that an honest replica may cause by being slow or cut off
 * (a leader that timed out, a replica absent from quorums). They count as suspicion, which
 * recovers over time and alone never bans; every other kind is permanent.
 */
export const SUSPICION_KINDS: ReadonlySet<ViolationKind> = new Set<ViolationKind>([
  'timeout',
  'non-participation',
]);

/** Whether `kind` is a suspicion (recoverable, never bans alone) rather than a proven violation. */
export function isSuspicion(kind: ViolationKind): boolean {
  return SUSPICION_KINDS.has(kind);
}

/**
 * How a core rejection is scored. A rejected message passed signature verification and broke
 * a rule of the protocol that an honest replica never breaks (the reason names the rule), so
 * the offender is penalised for certain. Conflicting votes are equivocation; every other rule
 * broken is scored as a malformed message: well-formed bytes, but not a message an honest
 * replica could have sent. The mapped type makes the compiler check every reason is listed.
 */
export const VIOLATION_OF_REJECT_REASON: { readonly [R in RejectReason]: ViolationKind } = Object.freeze({
  equivocation: 'equivocation',
  'not-primary': 'malformed-message',
  'primary-prepare': 'malformed-message',
  'digest-mismatch': 'malformed-message',
  'invalid-checkpoint': 'malformed-message',
  'invalid-prepared-certificate': 'malformed-message',
  'invalid-view-change': 'malformed-message',
  'invalid-new-view': 'malformed-message',
  'invalid-commit-certificate': 'malformed-message',
  'invalid-request': 'malformed-message',
});
