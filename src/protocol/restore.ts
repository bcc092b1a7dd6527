/**
 * Restarting a replica from what it persisted. The restarted replica holds every vote it made
 * durable before the crash (accepted PRE-PREPAREs, prepared certificates, its view, its stable
 * checkpoint and finalized batches), so it can only ever repeat a vote, never contradict one;
 * it sends those votes again, since whatever it sent last may have been lost with it.
 */
import { toHex } from '../crypto/digest.ts';
import type { ReplicaConfig, ReplicaOptions } from './config.ts';
import { holdUntil } from './delivery.ts';
import type { DurableSnapshot } from './durable-image.ts';
import type { Ready } from './effects.ts';
import { configIn, learnerConfigIn, ownNode } from './epoch-config.ts';
import { currentEpochRecord, type EpochRecord } from './epochs.ts';
import { invariant } from './errors.ts';
import { joinsAsGiven, learnsIn } from './learner.ts';
import { attachBody, isSigned } from './log.ts';
import type { Checkpoint, Commit, Draft, NewView, PrePrepare, Prepare } from './messages.ts';
import { noteInFlight } from './normal-case.ts';
import { createReplica, seal } from './replica.ts';
import { deliverableNext, forwardPending } from './requests.ts';
import { entryAt, isPrimary, primary, type ReplicaState, sendDraft } from './state.ts';
import { vertexKey } from './types.ts';
import { sendViewChange } from './view-change.ts';

/**
 * A replica restarted from `snapshot`, what it persisted before it stopped, and the effects it
 * releases at once: the votes it sends again and the vertices it proposes again.
 */
export function restoreReplica(
  options: ReplicaOptions | ReplicaConfig,
  snapshot: DurableSnapshot,
): { state: ReplicaState; ready: Ready } {
  const state = createReplica(options);
  // The epoch first: the configuration, and so this replica's id, depend on it.
  state.epoch = snapshot.view?.epoch ?? 0;
  restoreEpochs(state, snapshot.epochs);
  const { config } = state;
  if (snapshot.stable !== null) state.stable = snapshot.stable;
  // The hand-over certificate is known again while it is still the stable checkpoint; a
  // replica that moved past it leaves helping laggards to its peers.
  if (state.handover !== null && state.stable.sequence === state.handover.end)
    state.handover = { ...state.handover, certificate: state.stable };
  const h = state.stable.sequence;

  // Finalized history: where execution stands, and what was delivered within the horizon (each
  // record says which of its vertices were, so the set is rebuilt exactly as it was).
  let previous = 0;
  for (const record of snapshot.finalized) {
    invariant(previous === 0 || record.sequence === previous + 1, 'finalized records must be consecutive');
    previous = record.sequence;
    state.lastExecuted = record.sequence;
    state.lastChainDigest = record.chainDigest;
    state.delivered.record(
      record.sequence,
      record.delivered.map((position) => record.batch[position]!.hash),
    );
    if (record.sequence > h && record.sequence % config.checkpointInterval === 0) {
      state.ownCheckpoints.set(record.sequence, record.chainDigest);
    }
  }
  state.highestAccepted = state.lastExecuted;

  // Client vertices accepted before the crash and still able to become final: held again (and
  // proposed again below), since the node (or a peer it held them for) acknowledged them. After
  // a restart they are this replica's own: whoever asked for them heard HELD already.
  for (const vertex of snapshot.accepted) {
    const key = vertexKey(vertex);
    if (state.delivered.has(key) || state.pending.has(key) || !deliverableNext(state, vertex)) continue;
    state.pending.set(key, { vertex, sinceTick: 0, source: config.self, copies: null });
    holdUntil(state, key, vertex.validThrough);
  }

  // View.
  if (snapshot.view !== null) {
    state.view = snapshot.view.view;
    state.viewActive = snapshot.view.active;
    state.newView = snapshot.view.newView;
    state.timeoutCertificate = snapshot.view.timeoutCertificate;
  }

  // Log above the stable checkpoint, of the current epoch only: a replica that switched without
  // the hand-over certificate has its stable checkpoint below the epoch's start, and records
  // of the epoch before (same view numbers) are no votes of this one.
  const floor = Math.max(h, currentEpochRecord(state).start - 1);
  for (const record of snapshot.prePrepares) {
    if (record.sequence <= floor) continue;
    const entry = entryAt(state, record.sequence);
    const key = toHex(record.prePrepare.digest);
    if (record.batch !== null) attachBody(entry, key, record.batch);
    if (state.viewActive && record.prePrepare.view === state.view) {
      entry.prePrepare = record.prePrepare;
      entry.digestKey = key;
      if (record.sequence > state.highestAccepted) state.highestAccepted = record.sequence;
    }
  }
  for (const record of snapshot.prepared) {
    if (record.sequence <= floor) continue;
    entryAt(state, record.sequence).prepared = record.certificate;
  }

  noteInFlight(state);
  if (state.member) resend(state);
  return { state, ready: seal(state) };
}

/** Sends again what the replica may have sent before the crash. */
function resend(state: ReplicaState): void {
  const { self, checkpointInterval } = state.config;
  if (state.viewActive) {
    let highest = state.stable.sequence;
    const sequences = [...state.log.keys()].sort((a, b) => a - b);
    for (const sequence of sequences) {
      const entry = state.log.get(sequence)!;
      const prePrepare = entry.prePrepare;
      if (prePrepare === null) continue;
      highest = Math.max(highest, sequence);
      if (prePrepare.replica === self) {
        if (!isSigned(prePrepare))
          sendDraft(state, 'all', { ...(prePrepare as Draft<PrePrepare>), batch: entry.batch });
      } else {
        const prepare: Draft<Prepare> = { ...pick(prePrepare), kind: 'prepare', replica: self };
        sendDraft(state, 'all', prepare);
      }
      if (entry.prepared !== null && entry.prepared.prePrepare.view === state.view) {
        entry.sentCommit = true;
        const commit: Draft<Commit> = { ...pick(prePrepare), kind: 'commit', replica: self };
        sendDraft(state, 'all', commit);
      }
    }
    // Never below what it executed: a replica that caught up by state transfer holds no log
    // entries for those sequences, and proposing one again would contradict its certificate.
    if (isPrimary(state)) state.nextSequence = Math.max(highest, state.lastExecuted) + 1;
    forwardPending(state);
  } else {
    sendViewChange(state, state.view);
    if (primary(state) === self && state.newView !== null)
      sendDraft(state, 'all', state.newView as Draft<NewView>);
  }
  for (const [sequence, stateDigest] of state.ownCheckpoints) {
    if (sequence % checkpointInterval !== 0) continue;
    const checkpoint: Draft<Checkpoint> = {
      kind: 'checkpoint',
      epoch: state.epoch,
      sequence,
      stateDigest,
      replica: self,
    };
    sendDraft(state, 'all', checkpoint);
  }
}

/**
 * The epoch history: where the current epoch ends, if a request closed it, and the epoch that
 * request opens, read again from the request itself (the reader is deterministic).
 */
function restoreEpochs(state: ReplicaState, epochs: readonly EpochRecord[]): void {
  if (epochs.length === 0) return;
  const { reconfiguration } = state.config;
  invariant(reconfiguration !== null, 'a store with an epoch history needs a reconfiguration reader');
  state.epochs = [...epochs];
  // The configuration of each epoch up to the current one, from the requests that opened them.
  const node = ownNode(state.config);
  for (let number = 1; number <= state.epoch; number++) {
    const closed = epochs.find((epoch) => epoch.number === number - 1);
    const opened = epochs.find((epoch) => epoch.number === number);
    invariant(
      closed?.end != null && opened !== undefined,
      `the history lacks epoch ${number - 1} or ${number}`,
    );
    const next = reconfiguration.reader(opened.opening, closed);
    invariant(next !== null, `the request that opened epoch ${number} no longer reads as one`);
    state.epochNodes[number] = next.nodes;
    state.handover = { epoch: number - 1, config: state.config, end: closed.end, certificate: null };
    if (learnsIn(state, number)) {
      state.config = learnerConfigIn(state.config, next);
      continue;
    }
    const config = joinsAsGiven(state, number, opened.opening) ? configIn(state.config, node, next) : null;
    state.learning = false;
    if (config === null) {
      state.member = false;
      return;
    }
    state.config = config;
    state.member = true;
  }
  const current = currentEpochRecord(state);
  if (current.end === null) return;
  const opened = epochs.find((epoch) => epoch.number === current.number + 1);
  invariant(opened !== undefined, `epoch ${current.number} is closed but the history lacks the next`);
  const next = reconfiguration.reader(opened.opening, current);
  invariant(next !== null, `the request that opened epoch ${opened.number} no longer reads as one`);
  state.epochEnd = current.end;
  state.nextEpoch = next;
}

function pick(prePrepare: { epoch: number; view: number; sequence: number; digest: Uint8Array }) {
  return {
    epoch: prePrepare.epoch,
    view: prePrepare.view,
    sequence: prePrepare.sequence,
    digest: prePrepare.digest,
  };
}
