/**
 * The replica as a deterministic state machine: `step(state, input)` applies one input and
 * returns what to persist, send and deliver. No I/O, no clock, no randomness, no async: time
 * arrives as ticks and messages arrive already authenticated by the shell.
 */
import { onStateReply, onStateRequest, onStatus } from './catch-up.ts';
import { onCheckpoint } from './checkpoints.ts';
import { type ReplicaConfig, type ReplicaOptions, resolveReplicaConfig } from './config.ts';
import { DeliveredSet } from './delivered-set.ts';
import { AfterPersist, type Outbound, type Ready, type Released, type Verdict } from './effects.ts';
import { learnerConfig } from './epoch-config.ts';
import { onOtherEpoch, switchEpochIfEnded } from './epoch-switch.ts';
import { EPOCH_ZERO } from './epochs.ts';
import { keepLearning, learnerOutputOnly, stepLearner } from './learner.ts';
import { isSignedKind, type Message, type MessageKind, type MessageOf } from './messages.ts';
import { onCommit, onPrePrepare, onPrepare, proposeBatches } from './normal-case.ts';
import { onHeld, onPropose, onRequest } from './requests.ts';
import { primary, type ReplicaState, StepOutput } from './state.ts';
import { onTick } from './timers.ts';
import { genesisDigest, type ReplicaId, type Vertex } from './types.ts';
import { onNewView, onViewChange, sendWithheldViewChange } from './view-change.ts';
import { helpBehindInView, onBanned, onUnreachable, onViewTimeout } from './view-timeouts.ts';

/** One input to the replica. */
export type Input =
  /** A message from `from`, decoded, with every signature in it verified by the shell. */
  | { readonly kind: 'message'; readonly from: ReplicaId; readonly message: Message }
  /** Vertices from this replica's clients, to be ordered. */
  | { readonly kind: 'propose'; readonly vertices: readonly Vertex[] }
  /** One unit of time. */
  | { readonly kind: 'tick' }
  /**
   * The shell's Byzantine detector banned `replica`: its messages are dropped from now on. If
   * it is the primary (of the view in force or the one being changed to), waiting for its
   * timeout is pointless, so the replica gives up on the view at once. Quorum sizes never
   * change.
   */
  | { readonly kind: 'banned'; readonly replica: ReplicaId }
  /**
   * The shell has had no connection to `replica` for a while (its process died, or the network
   * between them did). If it is the primary of the active view, the replica gives up on the view
   * now rather than a view-change timeout later: a dead primary is noticed at every backup at
   * once, and the view is left as soon as a quorum has given up.
   */
  | { readonly kind: 'unreachable'; readonly replica: ReplicaId };

/** A message handler: guards that return the reason to ignore or reject, then the action. */
type Handler<K extends MessageKind> = (
  state: ReplicaState,
  message: MessageOf<K>,
  from: ReplicaId,
) => Verdict;

/** One handler per message kind: the mapped type makes the compiler check that all are handled. */
const handlers: { readonly [K in MessageKind]: Handler<K> } = {
  'pre-prepare': onPrePrepare,
  prepare: onPrepare,
  commit: onCommit,
  checkpoint: onCheckpoint,
  'view-change': onViewChange,
  'new-view': onNewView,
  request: onRequest,
  held: onHeld,
  status: onStatus,
  'state-request': onStateRequest,
  'state-reply': onStateReply,
  'view-timeout': onViewTimeout,
};

/** A fresh replica at genesis, in view 0. */
export function createReplica(options: ReplicaOptions | ReplicaConfig): ReplicaState {
  const given = 'quorum' in options ? options : resolveReplicaConfig(options);
  // A joiner starts as a learner of epoch 0, whatever id it was given (see `learner.ts`).
  const learning = given.reconfiguration?.joining !== undefined;
  const config = learning ? learnerConfig(given) : given;
  const genesis = genesisDigest(config.clusterId);
  return {
    config,
    now: 0,
    epoch: 0,
    epochs: [EPOCH_ZERO],
    epochEnd: null,
    nextEpoch: null,
    member: !learning,
    learning,
    handover: null,
    laterEpochPeers: new Map(),
    handoverVotes: new Map(),
    viewChangeWithheld: null,
    epochNodes: config.reconfiguration === null ? [] : [config.reconfiguration.nodes],
    view: 0,
    viewActive: true,
    newView: null,
    viewChanges: new Map(),
    viewChangeAttempts: 0,
    newViewTimerStart: null,
    timeouts: new Map(),
    timeoutCertificate: [],
    lastComplaintTick: null,
    complaintReason: null,
    behindHelped: new Map(),
    viewStartTick: 0,
    log: new Map(),
    genesis,
    lastExecuted: 0,
    highestAccepted: 0,
    lastChainDigest: genesis,
    stable: { sequence: 0, stateDigest: genesis, proof: [] },
    checkpointVotes: new Map(),
    ownCheckpoints: new Map(),
    nextSequence: 1,
    queue: new Map(),
    queuedPerSource: new Map(),
    queuedBytes: 0,
    proposedHashes: new Map(),
    pending: new Map(),
    heldPerSource: new Map(),
    watched: new Map(),
    watchedPerSource: new Map(),
    lastRequestRetryTick: 0,
    lastClientProgressTick: 0,
    delivered: new DeliveredSet(config.dedupHorizonSequences),
    expiring: new Map(),
    heldVertexExpired: false,
    lastProgressTick: 0,
    lastStatusTick: 0,
    statusAnswered: new Map(),
    stateServed: new Map(),
    stateDeferred: new Map(),
    aheadSeen: new Map(),
    stateTransfer: null,
    writeOrdinal: 0,
    out: new StepOutput(),
  };
}

/**
 * Applies one input. The state is updated in place; the returned Ready says what the shell
 * must do, in order: make `writes` durable, then open `released` with the storage layer's
 * receipt and send its messages and deliver its batches.
 */
export function step(state: ReplicaState, input: Input): Ready {
  state.out = new StepOutput();
  if (state.learning) {
    stepLearner(state, input);
    switchEpochIfEnded(state);
    if (state.learning) keepLearning(state);
    learnerOutputOnly(state);
    return seal(state);
  }
  if (!state.member) {
    // A replica that left the validator set votes, proposes and times out no more.
    if (input.kind === 'message' || input.kind === 'propose')
      state.out.verdict = { outcome: 'ignored', reason: 'not-member' };
    return seal(state);
  }
  switch (input.kind) {
    case 'message': {
      const { message, from } = input;
      // A message of another epoch counts toward no quorum of this one; the shell drops it before
      // verification, and this keeps the rule where the votes are counted.
      const verdict =
        'epoch' in message && message.epoch !== state.epoch
          ? onOtherEpoch(state, message, from)
          : (handlers[message.kind] as Handler<MessageKind>)(state, message, from);
      state.out.verdict = verdict;
      // A peer still speaking in a lower view is shown the way to this one.
      if (
        verdict.outcome === 'ignored' &&
        verdict.reason === 'stale-view' &&
        'view' in message &&
        message.view < state.view
      )
        helpBehindInView(state, from);
      break;
    }
    case 'propose':
      state.out.verdict = onPropose(state, input.vertices);
      break;
    case 'tick':
      onTick(state);
      break;
    case 'banned':
      onBanned(state, input.replica);
      break;
    case 'unreachable':
      onUnreachable(state, input.replica);
      break;
  }
  // After the whole input: a NEW-VIEW whose checkpoint ends the epoch is entered, then left.
  switchEpochIfEnded(state);
  sendWithheldViewChange(state);
  proposeBatches(state);
  return seal(state);
}

/** Turns the step's gathered output into a Ready. */
export function seal(state: ReplicaState): Ready {
  const out = state.out;
  const sealed: Outbound[] = [];
  const immediate: Outbound[] = [];
  // A REQUEST to the primary leaves at once: the vertices wait for nothing else to be ordered.
  // Copies to other holders matter only for the acknowledgment, which waits for this step's sync
  // anyway; sent early they only take cores from the round in flight, so they stay sealed.
  const orderer = primary(state);
  for (const outbound of out.messages) {
    if ('draft' in outbound && outbound.draft.kind === 'request' && outbound.to === orderer)
      immediate.push(outbound);
    else sealed.push(outbound);
  }
  const released: Released = {
    messages: sealed,
    deliveries: out.deliveries,
    acknowledged: out.acknowledged,
  };
  return {
    writes: out.writes,
    released: new AfterPersist(state.writeOrdinal, released),
    immediate,
    drafts: sealed.flatMap((outbound) =>
      'draft' in outbound && isSignedKind(outbound.draft) ? [outbound.draft] : [],
    ),
    serveState: out.serveState,
    verdict: out.verdict,
    evidence: out.evidence,
    suspicions: out.suspicions,
    events: out.events,
    refused: out.refused,
  };
}
