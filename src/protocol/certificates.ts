/**
 * Checks on certificates, and the NEW-VIEW computation (Castro and Liskov 4.4). These are pure
 * functions of the configuration and the messages: signatures have already been verified by
 * the shell, so what is checked here is who signed, how many, and that everything matches.
 */
import { bytesEqual } from '../crypto/digest.ts';
import { ArgumentError } from '../errors.ts';
import { primaryOf, type ReplicaConfig } from './config.ts';
import type { RejectReason } from './effects.ts';
import type { Handover } from './epoch-switch.ts';
import type {
  CheckpointCertificate,
  Commit,
  Draft,
  NewView,
  PrePrepare,
  PreparedCertificate,
  ViewChange,
} from './messages.ts';
import { type Digest, NULL_BATCH_DIGEST } from './types.ts';

/** Whether `signers` holds no replica twice. */
function distinct(signers: readonly { readonly replica: number }[]): boolean {
  const seen = new Set<number>();
  for (const { replica } of signers) {
    if (seen.has(replica)) return false;
    seen.add(replica);
  }
  return true;
}

/**
 * A checkpoint certificate is valid when it is the genesis checkpoint, or when a quorum of
 * distinct replicas of `epoch` signed CHECKPOINTs of it matching its sequence (a multiple of
 * K) and digest.
 */
export function isValidCheckpointCertificate(
  config: ReplicaConfig,
  epoch: number,
  certificate: CheckpointCertificate,
  genesis: Digest,
): boolean {
  if (certificate.sequence === 0) {
    return certificate.proof.length === 0 && bytesEqual(certificate.stateDigest, genesis);
  }
  if (certificate.sequence % config.checkpointInterval !== 0) return false;
  if (certificate.proof.length < config.quorum || certificate.proof.length > config.replicaCount)
    return false;
  if (!distinct(certificate.proof)) return false;
  return certificate.proof.every(
    (checkpoint) =>
      checkpoint.epoch === epoch &&
      checkpoint.sequence === certificate.sequence &&
      bytesEqual(checkpoint.stateDigest, certificate.stateDigest),
  );
}

/**
 * A prepared certificate is valid when the PRE-PREPARE comes from the primary of its view in
 * `epoch` and quorum - 1 distinct backups sent matching PREPAREs of that epoch.
 */
export function isValidPreparedCertificate(
  config: ReplicaConfig,
  epoch: number,
  certificate: PreparedCertificate,
): boolean {
  const { prePrepare, prepares } = certificate;
  const primary = primaryOf(config, prePrepare.view);
  if (prePrepare.epoch !== epoch || prePrepare.replica !== primary || prePrepare.batch !== null) return false;
  if (prepares.length < config.quorum - 1 || prepares.length > config.replicaCount - 1) return false;
  if (!distinct(prepares)) return false;
  return prepares.every(
    (prepare) =>
      prepare.epoch === epoch &&
      prepare.replica !== primary &&
      prepare.view === prePrepare.view &&
      prepare.sequence === prePrepare.sequence &&
      bytesEqual(prepare.digest, prePrepare.digest),
  );
}

/**
 * A commit certificate is valid when a quorum of distinct replicas of `epoch` committed the
 * same slot in it.
 */
export function isValidCommitCertificate(
  config: ReplicaConfig,
  epoch: number,
  view: number,
  sequence: number,
  digest: Digest,
  commits: readonly Commit[],
): boolean {
  if (commits.length < config.quorum || commits.length > config.replicaCount) return false;
  if (!distinct(commits)) return false;
  return commits.every(
    (commit) =>
      commit.epoch === epoch &&
      commit.view === view &&
      commit.sequence === sequence &&
      bytesEqual(commit.digest, digest),
  );
}

/**
 * Why a VIEW-CHANGE is invalid, or null when it is valid: its checkpoint certificate must be
 * valid, and it must carry at most one valid prepared certificate per sequence, in increasing
 * order, each from a view below the new one and inside the checkpoint's watermark window.
 * Every certificate in it belongs to the VIEW-CHANGE's epoch: a view change never mixes epochs,
 * but for the checkpoint that handed the epoch over (`handover`, the previous epoch's last),
 * certified by the previous epoch, below which no checkpoint of this epoch can lie.
 */
export function viewChangeFault(
  config: ReplicaConfig,
  viewChange: ViewChange,
  genesis: Digest,
  handover: Handover | null = null,
): RejectReason | null {
  const { checkpoint } = viewChange;
  if (handover !== null && checkpoint.sequence <= handover.end) {
    if (
      checkpoint.sequence < handover.end ||
      !isValidCheckpointCertificate(handover.config, handover.epoch, checkpoint, genesis)
    )
      return 'invalid-checkpoint';
  } else if (!isValidCheckpointCertificate(config, viewChange.epoch, checkpoint, genesis)) {
    return 'invalid-checkpoint';
  }
  let previous = checkpoint.sequence;
  const high = checkpoint.sequence + config.watermarkWindow;
  for (const certificate of viewChange.prepared) {
    const { sequence, view } = certificate.prePrepare;
    if (sequence <= previous || sequence > high || view >= viewChange.view) return 'invalid-view-change';
    if (!isValidPreparedCertificate(config, viewChange.epoch, certificate))
      return 'invalid-prepared-certificate';
    previous = sequence;
  }
  return null;
}

/** What a quorum of VIEW-CHANGEs determines for the new view. */
export interface NewViewPlan {
  /** The latest stable checkpoint among the VIEW-CHANGEs (min-s). */
  readonly checkpoint: CheckpointCertificate;
  /** PRE-PREPARE headers for every sequence in (min-s, max-s], unsigned. */
  readonly prePrepares: readonly Draft<PrePrepare>[];
}

/**
 * The NEW-VIEW computation of 4.4: min-s is the latest stable checkpoint in the VIEW-CHANGEs,
 * max-s the highest sequence in their prepared certificates. Every sequence in between gets
 * the digest of its highest-view prepared certificate, or the null batch when none exists.
 * The VIEW-CHANGEs must already be valid.
 */
export function planNewView(
  config: ReplicaConfig,
  epoch: number,
  view: number,
  viewChanges: readonly ViewChange[],
): NewViewPlan {
  let checkpoint: CheckpointCertificate | null = null;
  for (const viewChange of viewChanges) {
    if (checkpoint === null || viewChange.checkpoint.sequence > checkpoint.sequence)
      checkpoint = viewChange.checkpoint;
  }
  if (checkpoint === null) throw new ArgumentError('planNewView needs at least one VIEW-CHANGE');
  const minS = checkpoint.sequence;
  const best = new Map<number, PrePrepare>();
  let maxS = minS;
  for (const viewChange of viewChanges) {
    for (const { prePrepare } of viewChange.prepared) {
      if (prePrepare.sequence <= minS) continue;
      const current = best.get(prePrepare.sequence);
      if (current === undefined || prePrepare.view > current.view) best.set(prePrepare.sequence, prePrepare);
      if (prePrepare.sequence > maxS) maxS = prePrepare.sequence;
    }
  }
  const replica = primaryOf(config, view);
  const prePrepares: Draft<PrePrepare>[] = [];
  for (let sequence = minS + 1; sequence <= maxS; sequence++) {
    const digest = best.get(sequence)?.digest ?? NULL_BATCH_DIGEST;
    prePrepares.push({ kind: 'pre-prepare', epoch, view, sequence, digest, batch: null, replica });
  }
  return { checkpoint, prePrepares };
}

/**
 * Why a NEW-VIEW is invalid, or null: it must come from the new primary, carry a quorum of
 * valid VIEW-CHANGEs for its view from distinct replicas, and PRE-PREPAREs that are exactly
 * the ones {@link planNewView} computes from them, signed by the new primary in the new view.
 */
export function newViewFault(
  config: ReplicaConfig,
  newView: NewView,
  genesis: Digest,
  handover: Handover | null = null,
): RejectReason | null {
  const primary = primaryOf(config, newView.view);
  if (newView.replica !== primary) return 'not-primary';
  const { viewChanges } = newView;
  if (viewChanges.length < config.quorum || viewChanges.length > config.replicaCount)
    return 'invalid-new-view';
  if (!distinct(viewChanges)) return 'invalid-new-view';
  for (const viewChange of viewChanges) {
    if (viewChange.epoch !== newView.epoch || viewChange.view !== newView.view) return 'invalid-new-view';
    if (viewChangeFault(config, viewChange, genesis, handover) !== null) return 'invalid-new-view';
  }
  const plan = planNewView(config, newView.epoch, newView.view, viewChanges);
  if (plan.prePrepares.length !== newView.prePrepares.length) return 'invalid-new-view';
  for (let i = 0; i < plan.prePrepares.length; i++) {
    const expected = plan.prePrepares[i]!;
    const actual = newView.prePrepares[i]!;
    if (
      actual.replica !== primary ||
      actual.epoch !== newView.epoch ||
      actual.view !== newView.view ||
      actual.sequence !== expected.sequence ||
      actual.batch !== null ||
      !bytesEqual(actual.digest, expected.digest)
    ) {
      return 'invalid-new-view';
    }
  }
  return null;
}
