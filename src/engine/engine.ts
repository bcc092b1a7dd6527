/**
 * BftEngine: the asynchronous shell around the pure protocol core and the Byzantine detector.
 *
 * It does, for real and without blocking the event loop, what the simulator's honest node does
 * (`src/sim/honest-node.ts`): decode and verify every frame (signatures on the libuv pool, each
 * sender's messages stepped in the order it sent them), step the core, make the step's writes
 * durable before anything that depends on them leaves (the `AfterPersist` seal, opened by the
 * store's receipt), sign drafts off the event loop and send them in order, hand this replica's
 * own broadcasts back to it, and answer state-transfer requests from the store. Around that: a
 * batcher for proposals, timers as core ticks, the finalized stream, metrics and a lifecycle.
 *
 * Inputs are stepped one at a time from one queue, so a listener that calls `propose()` from a
 * `finalized` handler, or a ban decided while a step's output is handled, never re-enters the
 * core: it is queued behind the input under way.
 */
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import type { Evidence } from '../byzantine/index.ts';
import { type KeyPair, mlDsa87, type PublicKey, type SignatureScheme } from '../crypto/index.ts';
import { ArgumentError } from '../errors.ts';
import { type ConsensusMetrics, createConsensusMetrics, type MessageOutcome } from '../metrics/index.ts';
import {
  buildStateReply,
  createReplica,
  createVertex,
  type Delivery,
  type Destination,
  type Draft,
  type EpochRecord,
  hasValidHash,
  type Input,
  type Message,
  pipelineIdle,
  primaryOf,
  proposeAtTurnEnd,
  type Ready,
  type Released,
  type ReplicaEvent,
  type ReplicaId,
  type ReplicaState,
  restoreReplica,
  type StateReply,
  type StateServeRequest,
  step,
  type Verdict,
  type Vertex,
  vertexKey,
  vertexPayloadBytes,
} from '../protocol/index.ts';
import { signDraftAsync } from '../shell/async-signing.ts';
import { type Clock, systemClock, type Timer } from '../shell/clock.ts';
import { Fifo } from '../shell/fifo.ts';
import { ReleaseQueue } from '../shell/release-queue.ts';
import type { SigningIdentity } from '../shell/signing.ts';
import type { Store } from '../storage/store.ts';
import type { NodeId, Transport } from '../transport/transport.ts';
import { type DecodeLimits, encodedMessageBytes, encodeMessage, withReplicaCount } from '../wire/index.ts';
import { KnownVertices } from '../wire/known-vertices.ts';
import { ProposalBatcher } from './batcher.ts';
import {
  type BoundedParts,
  type BoundedSize,
  type BoundVisitor,
  boundedSizes,
  visitBoundedSizes,
} from './bounds.ts';
import { type BftConfig, type ResolvedBftConfig, resolveBftConfig } from './config.ts';
import { createDetector } from './create-detector.ts';
import type { EngineDetector } from './detector.ts';
import { type EngineReconfiguration, EpochRosters, type Roster } from './epoch-roster.ts';
import { EpochKeyError, JoinRefusedError, ProposalRejectedError } from './errors.ts';
import { type FinalizedOptions, replayFinalized, startAfter } from './finalized-replay.ts';
import { FinalizedStream, type FinalizedVertex } from './finalized-stream.ts';
import { FormerValidators } from './former-validators.ts';
import { type Admission, InboundPipeline } from './inbound.ts';
import { type EngineState, Lifecycle } from './lifecycle.ts';
import { OutboundQueue } from './outbound.ts';
import { type PeerProgress, peerProgress } from './peer-progress.ts';
import {
  AcceptedList,
  PROPOSAL_WAITERS_MAX,
  ProposalRegistry,
  type ProposalResult,
  type ProposalWaiter,
} from './proposals.ts';
import type { EngineProbe, EngineTestSeams, OutboundQueuePart, ReleaseQueuePart } from './seams.ts';
import {
  sequenceOf,
  type TracePoint,
  type Tracer,
  type TraceStep,
  traceNow,
  verdictName,
  writeSequence,
} from './trace.ts';
import { SignatureVerifier, type VerifierStats, type VerifyOutcome } from './verifier.ts';
import { isGatedVote, VoteGate, votesMissing } from './vote-gate.ts';

/** What the engine runs on, besides its configuration and keys. */
export interface EngineDependencies {
  /** The network to the other validators; the engine starts and stops it. */
  readonly transport: Transport;
  /** Durable storage; opened by the caller, left open by `stop()`. */
  readonly store: Store;
  /** Where the metrics are registered. Default: a fresh registry, returned by `metrics()`. */
  readonly registry?: Registry;
  /** The signature scheme. Default ML-DSA-87; the insecure simulation scheme is for tests only. */
  readonly scheme?: SignatureScheme;
  /** Time and timers. Default: the system clock. Tests pass a `ManualClock`. */
  readonly clock?: Clock;
  /** Read-only hooks on the core's steps and deliveries, for the simulator's checkers and tests. */
  readonly probe?: EngineProbe;
  /**
   * FOR TESTS ONLY: deliberately broken replacements of parts of the engine (see `seams.ts`),
   * to show that the simulator catches them. Never set in production.
   */
  readonly testSeams?: EngineTestSeams;
  /** Receives every step of every sequence here (see `trace.ts`); a debugging aid. */
  readonly tracer?: Tracer;
  /**
   * How the replica follows reconfigurations (docs/reconfiguration.md); without it, it stays in
   * epoch 0 with the configuration's validators. `src/reconfig` builds one from the cluster file.
   */
  readonly reconfiguration?: EngineReconfiguration;
}

/** The engine's events. */
export interface EngineEvents {
  /** A vertex became final here, in the total order. */
  finalized: [FinalizedVertex];
  /** This replica gave up on the leader and started changing to `view`. */
  'view-change': [{ readonly view: number; readonly reason: string }];
  /** This replica entered `view`, led by `leader`. */
  'view-entered': [{ readonly view: number; readonly leader: NodeId }];
  /**
   * A frame was dropped before it reached the core: it did not decode (`malformed`), a signature
   * in it did not verify, its sender is not a validator with a registered key, is banned, or
   * has too many frames waiting (`ignored`). `from` is the transport's peer name.
   */
  dropped: [{ readonly from: NodeId; readonly type: string; readonly outcome: MessageOutcome }];
  /** The detector banned a validator: its messages are dropped from now on. */
  banned: [{ readonly nodeId: NodeId }];
  /**
   * The replica switched to the next epoch at its hand-over checkpoint (or, `restored`, started
   * from a store in an epoch after 0, before its transport starts): `validators` vote from
   * sequence `start` on. `member` is false when this node is not one of them: it votes no more,
   * unless it is `learning`, walking the history towards the later epoch it joins.
   */
  'epoch-started': [
    {
      readonly epoch: number;
      readonly start: number;
      readonly validators: readonly NodeId[];
      readonly member: boolean;
      readonly learning: boolean;
      readonly restored: boolean;
    },
  ];
  /** The engine halted (a broken invariant, a failed write or signature). Listen for it. */
  error: [Error];
}

/** A proposal the replica holds durably (see `BftEngine.accept`). */
export interface AcceptedProposal {
  /** Resolves once the vertex is final here, with its place; rejects as `propose` does. */
  readonly final: Promise<ProposalResult>;
}

/** What `status()` reports. */
export interface EngineStatus {
  readonly nodeId: NodeId;
  readonly state: EngineState;
  /** The epoch (validator set) this replica is in: 0 is the configuration's. */
  readonly epoch: number;
  /** The epoch's validators, in leader order. */
  readonly validators: readonly NodeId[];
  /** Whether this node is one of them; one that was removed votes no more. */
  readonly member: boolean;
  /**
   * Whether this node is a learner: it joins the validators at a later epoch and is fetching the
   * history up to it (`EngineReconfiguration.joining`). It votes in nothing until it gets there.
   */
  readonly learning: boolean;
  /** The epoch's f and quorum. */
  readonly faultTolerance: number;
  readonly quorum: number;
  /** Other validators that hold a vertex durably before this one acknowledges it, in the epoch. */
  readonly acknowledgeCopies: number;
  /** The view this replica is in, or changing to when `viewActive` is false. */
  readonly view: number;
  readonly viewActive: boolean;
  readonly leader: NodeId;
  readonly isLeader: boolean;
  /** The highest sequence finalized here. */
  readonly sequence: number;
  readonly stableCheckpoint: number;
  /** Proposals accepted here and not yet final. */
  readonly pendingProposals: number;
  /**
   * Vertex hashes remembered so that none is finalized twice: those finalized in the last
   * `dedupHorizonSequences` sequences, at most that many times `batchMaxVertices`.
   */
  readonly deliveredRemembered: number;
  /** Each validator's reputation, 0 to 1. */
  readonly reputations: Readonly<Record<NodeId, number>>;
  readonly banned: readonly NodeId[];
  /**
   * Sequences in the core's message log: at most the watermark window above the stable
   * checkpoint, plus committed ones below it that await execution (see `boundedSizes`).
   */
  readonly logEntries: number;
  /** Each validator's progress as this replica sees it from the signed messages it holds. */
  readonly replicas: readonly PeerProgress[];
  /** The work in the pipeline, for diagnosis. */
  readonly pipeline: {
    readonly framesAwaitingVerification: number;
    readonly messagesAwaitingSend: number;
    readonly writesInFlight: number;
    readonly batcherVertices: number;
    readonly verifier: Readonly<VerifierStats>;
  };
}

/** Options of `stop()`. */
export interface StopOptions {
  /**
   * How long to keep running consensus for proposals already accepted before giving up on them
   * (they are rejected with code 'stopped'). Default 2 x viewChangeTimeoutMs, enough for the
   * cluster to replace a failed leader once. 0 gives up on them at once.
   */
  readonly drainTimeoutMs?: number;
}

interface QueuedInput {
  readonly input: Input;
  readonly onVerdict?: (verdict: Verdict | null) => void;
}

/**
 * The most payload and parent bytes the index of held vertices keeps alive (`known-vertices.ts`).
 * The vertices an honest holder reads again at the peak are a few megabytes; the bound stops a
 * faulty peer's REQUESTs from keeping more than this in memory.
 */
const KNOWN_VERTEX_BYTES_MAX = 64 * 1024 * 1024;

/**
 * A PBFT replica with ML-DSA-87 signatures: construct it with a configuration, this node's
 * keys, a transport and a store; register the other validators' public keys; `start()`; then
 * `propose()` vertices and consume `finalized()`.
 *
 * @example
 * const engine = new BftEngine({ nodeId: 'a', validators: ['a', 'b', 'c', 'd'] }, keys, { transport, store });
 * for (const [id, key] of peers) engine.registerNodePublicKey(id, key);
 * await engine.start();
 * const { sequence, position } = await engine.propose(createVertex(payload));
 */
export class BftEngine extends EventEmitter<EngineEvents> {
  /** The configuration after defaults. */
  readonly config: ResolvedBftConfig;
  readonly #scheme: SignatureScheme;
  readonly #clock: Clock;
  readonly #transport: Transport;
  readonly #store: Store;
  readonly #registry: Registry;
  readonly #metrics: ConsensusMetrics;
  /** The decode limits for the largest validator set of the epochs known (see `withReplicaCount`). */
  #limits: DecodeLimits;
  /** The validators and keys of every epoch this replica knows. */
  readonly #rosters: EpochRosters;
  /** This node's signing identity by epoch, once looked up (null: it holds no key for it). */
  readonly #identities = new Map<number, SigningIdentity | null>();
  readonly #lifecycle = new Lifecycle();
  readonly #byzantineFigures: BftConfig['byzantine'];
  /** Scores and bans the validators of the current epoch, by their ids in it. */
  #detector: EngineDetector;
  /** The epoch the detector and the gauges were set up for. */
  #epochFollowed = 0;
  /** The history (`ReplicaState.epochs`) the rosters were last taught. */
  #epochsLearned: readonly EpochRecord[] | null = null;
  readonly #verifier: SignatureVerifier;
  readonly #inbound: InboundPipeline;
  /** Which PREPAREs and COMMITs are verified now, and which wait (see `vote-gate.ts`). */
  readonly #voteGate = new VoteGate({ missing: (vote) => votesMissing(this.#state, vote) });
  /** The epoch, view and last executed sequence the vote gate was last pruned at. */
  #voteGatePrunedAt = { epoch: -1, view: -1, lastExecuted: -1 };
  readonly #outbound: OutboundQueuePart;
  readonly #batcher: ProposalBatcher;
  readonly #proposals: ProposalRegistry;
  /**
   * Client vertices this replica holds (its own clients', or a peer's in a REQUEST marked hold)
   * and will read again in the PRE-PREPARE that orders them: the decoder takes them from here
   * rather than copy and hash them a second time (`known-vertices.ts`). A primary reads no
   * PRE-PREPARE of its own and keeps none.
   */
  readonly #knownVertices: KnownVertices;
  readonly #stream = new FinalizedStream();
  readonly #formerValidators: FormerValidators;
  /**
   * Signatures started while the writes that justify them sync (see `Ready.drafts`), by draft.
   * Weak: the drafts of a step whose effects are dropped (a halt) take theirs with them.
   */
  readonly #signing = new WeakMap<Draft, Promise<Message>>();
  readonly #tracer: Tracer | null;
  #state: ReplicaState;
  #releases: ReleaseQueuePart;
  readonly #probe: EngineProbe;
  readonly #createReleaseQueue: () => ReleaseQueuePart;
  readonly #inputs = new Fifo<QueuedInput>();
  #stepping = false;
  #acceptingFrames = false;
  #tickTimer: Timer | null = null;
  /** Since when the transport has had no connection to the primary of the view, or null. */
  #primaryUnreachableSince: number | null = null;
  #writesInFlight = 0;
  #prunedThrough = 0;
  /** The highest sequence delivered (to listeners and streams): where a replay hands over. */
  #deliveredThrough = 0;
  /** Banned validators, by node id: a ban outlasts an epoch switch that renumbers them. */
  readonly #banned = new Set<NodeId>();
  #violationsCounted: Readonly<Record<string, number>> = {};
  /** The reputations and peer count the gauges show, so that a tick sets only what changed. */
  readonly #reputationsShown: number[] = [];
  #peersShown = -1;
  #quietWaiters: (() => void)[] = [];
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;

  /**
   * @throws ConfigError naming the field, for any invalid configuration value.
   */
  constructor(config: BftConfig, keys: KeyPair, dependencies: EngineDependencies) {
    super();
    this.#scheme = dependencies.scheme ?? mlDsa87;
    const reconfiguration = dependencies.reconfiguration ?? null;
    const joining = reconfiguration?.joining;
    const resolved = resolveBftConfig(config, this.#scheme.signatureBytes, {
      joining: joining !== undefined,
    });
    const alterReplicaConfig = dependencies.testSeams?.alterReplicaConfig;
    this.#rosters = new EpochRosters(
      this.#scheme,
      { nodes: resolved.validators, self: resolved.self, keyPair: keys },
      reconfiguration,
    );
    const joined = joining === undefined ? undefined : this.#rosters.of(joining.epoch);
    if (joining !== undefined && joined?.replicaOf.get(resolved.nodeId) === undefined) {
      throw new ArgumentError(
        `the request that opens epoch ${joining.epoch}, which this node joins, does not name ${resolved.nodeId}`,
      );
    }
    const replica = Object.freeze({
      ...resolved.replica,
      reconfiguration:
        reconfiguration === null
          ? null
          : {
              reader: reconfiguration.reader,
              nodes: resolved.validators,
              node: resolved.nodeId,
              ...(joining === undefined ? {} : { joining: { ...joining, nodes: joined!.nodes } }),
            },
    });
    this.config = Object.freeze({
      ...resolved,
      replica: alterReplicaConfig === undefined ? replica : alterReplicaConfig(replica),
    });
    if (keys.privateKey.scheme !== this.#scheme.name || keys.publicKey.scheme !== this.#scheme.name) {
      throw new ArgumentError(
        `the keys are ${keys.privateKey.scheme} keys, the engine signs with ${this.#scheme.name}`,
      );
    }
    this.#clock = dependencies.clock ?? systemClock;
    this.#tracer = dependencies.tracer ?? null;
    this.#transport = dependencies.transport;
    this.#store = dependencies.store;
    this.#registry = dependencies.registry ?? new Registry();
    this.#metrics = createConsensusMetrics(this.#registry);
    this.#probe = dependencies.probe ?? {};
    const seams = dependencies.testSeams ?? {};
    this.#createReleaseQueue = seams.createReleaseQueue ?? (() => new ReleaseQueue());
    this.#releases = this.#createReleaseQueue();
    const { validators, clusterId } = this.config;
    this.#limits = withReplicaCount(this.config.limits, this.#rosters.largestEpoch());
    this.#state = createReplica(this.config.replica);
    this.#byzantineFigures = config.byzantine;
    this.#detector = this.#createDetector();
    this.#verifier = new SignatureVerifier({
      scheme: this.#scheme,
      clusterId,
      cacheMax: this.config.verifiedCacheMax,
      keyOf: (epoch, replica) => this.#rosters.of(epoch)?.keys[replica],
      ...(seams.verifyCacheKey === undefined ? {} : { cacheKey: seams.verifyCacheKey }),
    });
    const { pendingVerticesMax, watchedVerticesPerReplicaMax, replicaCount } = this.config.replica;
    this.#knownVertices = new KnownVertices(
      pendingVerticesMax + watchedVerticesPerReplicaMax * replicaCount,
      KNOWN_VERTEX_BYTES_MAX,
    );
    this.#inbound = new InboundPipeline({
      limits: () => this.#limits,
      knownVertices: this.#knownVertices,
      verifier: this.#verifier,
      perSenderMax: this.config.inboundFramesPerPeerMax,
      admit: (from, message) => this.#admitChecked(from, message),
      hooks: {
        decoded: (from: NodeId, message: Message) => {
          // Known as soon as decoded: the REQUEST may wait for its sender's earlier messages
          // to be checked while the PRE-PREPARE ordering its vertices is already being read.
          if (message.kind === 'request' && message.hold && !this.isLeader())
            for (const vertex of message.vertices) this.#knownVertices.add(vertex);
          // The sender's id is looked up for the trace alone.
          if (this.#tracer !== null)
            this.#traceMessage('received', message, this.#roster().replicaOf.get(from));
        },
        malformed: (from, error) => {
          this.#dropped(from, 'unknown', 'malformed');
          const replica = this.#roster().replicaOf.get(from);
          if (replica !== undefined) this.#banAll(this.#detector.malformed(replica, error.code));
        },
        otherEpoch: (from, message) => this.#dropped(from, message.kind, 'ignored'),
        overloaded: (from, message) => this.#dropped(from, message.kind, 'ignored'),
        discarded: (_from, message) => {
          if (isGatedVote(message)) this.#voteGate.settled(message);
        },
        checked: (from, message, outcome, seconds) => this.#onChecked(from, message, outcome, seconds),
        failed: (error) => this.#halt(error),
      },
    });
    const outboundOptions = {
      sign: (draft: Draft) => {
        const signing = this.#signing.get(draft);
        if (signing === undefined) return this.#sign(draft);
        this.#signing.delete(draft);
        return signing;
      },
      send: (to: Destination, message: Message) => this.#send(to, message),
      failed: (error: unknown) => this.#halt(error),
      idle: () => this.#checkQuiet(),
    };
    this.#outbound = seams.createOutboundQueue?.(outboundOptions) ?? new OutboundQueue(outboundOptions);
    // Results are kept for a vertex proposed again after it was final; a bounded courtesy.
    this.#formerValidators = new FormerValidators({
      nodeId: this.config.nodeId,
      state: () => this.#state,
      rosterOf: (epoch) => this.#rosters.of(epoch),
      stateReply: (request) => this.#stateReply(request),
      signAndSend: (node, draft) => this.#sendToNode(node, this.#sign(draft)),
      adopt: (vertices) => this.#input({ kind: 'propose', vertices }),
      relay: (node, checkpoint) => this.#sendToNode(node, Promise.resolve(checkpoint)),
    });
    this.#proposals = new ProposalRegistry(Math.min(this.config.pendingProposalsMax, 16_384));
    this.#batcher = new ProposalBatcher({
      maxVertices: this.config.batchMaxVertices,
      maxBytes: this.config.batchMaxBytes,
      maxDelayMs: this.config.batchMaxDelayMs,
      clock: this.#clock,
      atTurnEnd: () => proposeAtTurnEnd(this.#state),
      flush: (vertices) => this.#proposeBatch(vertices),
    });
    for (const [index, id] of validators.entries())
      this.#metrics.reputation.set({ node: id }, this.#detector.reputation(index));
  }

  /** The validators of the epoch the replica is in. */
  #roster(): Roster {
    const roster = this.#rosters.of(this.#state.epoch);
    if (roster === undefined) throw new Error(`the engine knows no validators of epoch ${this.#state.epoch}`);
    return roster;
  }

  /** A detector for the validators of the replica's current epoch. */
  #createDetector(): EngineDetector {
    // One that left the validator set judges nobody: it takes part in nothing.
    if (!this.config.byzantineDetectionEnabled || !this.#state.member) return createDetector(null);
    const roster = this.#roster();
    return createDetector({
      replicaCount: roster.nodes.length,
      self: this.#state.config.self,
      verification: { scheme: this.#scheme, publicKeys: roster.keys, clusterId: this.config.clusterId },
      figures: this.#byzantineFigures,
    });
  }

  /** This node's signing identity in `epoch`, or null when it holds no key the epoch lists for it. */
  #identityFor(epoch: number): SigningIdentity | null {
    let identity = this.#identities.get(epoch);
    if (identity !== undefined) return identity;
    const roster = this.#rosters.of(epoch);
    // Not cached before the roster is learned: the epoch may still become known.
    if (roster === undefined) return null;
    const self = roster.replicaOf.get(this.config.nodeId);
    const pair = self === undefined ? null : this.#rosters.keyPairFor(epoch, self);
    identity =
      pair === null
        ? null
        : { scheme: this.#scheme, privateKey: pair.privateKey, clusterId: this.config.clusterId };
    this.#identities.set(epoch, identity);
    return identity;
  }

  // -------------------------------------------------------------------------------------------
  // Public API

  /**
   * Registers (or replaces) a validator's public key in epoch 0, the configuration's validator
   * set (later epochs take their keys from the requests that open them). Messages signed by a
   * validator whose key is not registered are dropped as from an unknown sender.
   *
   * @param publicKey - a key of the engine's scheme, or its raw bytes (2,592 for ML-DSA-87).
   * @throws ArgumentError for a node id that is not a validator or a key of another scheme.
   */
  registerNodePublicKey(nodeId: NodeId, publicKey: PublicKey | Uint8Array): void {
    const zero = this.#rosters.of(0)!;
    const replica = zero.replicaOf.get(nodeId);
    if (replica === undefined) throw new ArgumentError(`${nodeId} is not one of the validators`);
    const key = publicKey instanceof Uint8Array ? this.#scheme.importPublicKey(publicKey) : publicKey;
    if (key.scheme !== this.#scheme.name) {
      throw new ArgumentError(
        `${nodeId}'s key is a ${key.scheme} key, the engine verifies ${this.#scheme.name}`,
      );
    }
    zero.keys[replica] = key;
    this.#identities.delete(0);
  }

  /**
   * Restores the replica from the store (its view, votes, checkpoint and recent finalized
   * batches), starts the transport and the timers. Vertices finalized before a restart are not
   * delivered again: the application keeps its own position.
   *
   * @throws EngineStateError unless the engine is newly created.
   */
  start(): Promise<void> {
    try {
      this.#lifecycle.to('starting', 'start');
    } catch (error) {
      return Promise.reject(error);
    }
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    let ready: Ready;
    try {
      const snapshot = await this.#store.load(this.config.replica.dedupHorizonSequences);
      const restored = restoreReplica(this.config.replica, snapshot);
      this.#state = restored.state;
      ready = restored.ready;
      this.#followEpoch(false);
      this.#releases = this.#createReleaseQueue();
      // What the store holds was delivered before the restart; it is not delivered again.
      this.#deliveredThrough = this.#state.lastExecuted;
      this.#prunedThrough = Math.max(0, this.#state.lastExecuted - this.config.logRetention);
      this.#transport.onFrame((from, frame) => this.#onFrame(from, frame));
      await this.#transport.start();
    } catch (error) {
      if (this.#lifecycle.is('starting')) this.#lifecycle.to('stopped', 'fail to start');
      throw error;
    }
    if (!this.#lifecycle.is('starting')) return;
    this.#lifecycle.to('running', 'finish starting');
    this.#acceptingFrames = true;
    this.#handleReady(ready);
    this.#scheduleTick();
    this.#updateGauges();
    this.#syncSlowMetrics();
  }

  /**
   * Stops gracefully: new proposals are refused at once; the engine keeps taking part in
   * consensus until every proposal it accepted is final here (or `drainTimeoutMs` passes, after
   * which the rest are rejected with code 'stopped'); then it stops its timers and its intake,
   * waits until every write is durable and everything released is sent, and stops the
   * transport. Finalized streams end. Idempotent.
   */
  stop(options: StopOptions = {}): Promise<void> {
    if (this.#stopping !== null) return this.#stopping;
    if (this.#lifecycle.is('created')) {
      this.#lifecycle.to('stopped', 'stop');
      this.#stream.end();
      return Promise.resolve();
    }
    if (this.#lifecycle.is('stopped', 'halted')) return Promise.resolve();
    this.#stopping = this.#stop(options);
    return this.#stopping;
  }

  /**
   * The highest sequence whose vertices this replica has delivered (to `finalized` listeners and
   * streams; those finalized before a restart count as delivered). The store holds every
   * sequence up to it that it has not pruned, and every later delivery is of a higher one: a
   * reader that replays the store through it and then listens, in one synchronous step, sees
   * each vertex once.
   */
  get deliveredSequence(): number {
    return this.#deliveredThrough;
  }

  /**
   * The epoch this replica is in now (a learner: the one whose history it is walking). Messages
   * name their senders by their ids in it, and a sender that is no validator of it is unknown.
   */
  get epoch(): number {
    return this.#state.epoch;
  }

  /** Whether this replica leads the current view (and the view is installed). */
  isLeader(): boolean {
    const state = this.#state;
    return state.member && state.viewActive && primaryOf(state.config, state.view) === state.config.self;
  }

  /** The prom-client registry holding this engine's metrics (`await metrics().metrics()` for the text). */
  metrics(): Registry {
    return this.#registry;
  }

  /**
   * The provable evidence this replica's detector holds (equivocations, forgeries relayed by a
   * replica that signed them): each verifies with the validators' public keys alone
   * (`verifyEvidence` in `src/byzantine`).
   */
  evidence(): readonly Evidence[] {
    return this.#detector.evidence();
  }

  /**
   * Every queue, cache and map this engine and its core hold, with its size now and the bound
   * that limits it (see `bounds.ts`).
   */
  boundedSizes(): BoundedSize[] {
    return boundedSizes(this.#boundedParts());
  }

  /**
   * The same as {@link boundedSizes}, one collection at a time, allocating nothing per
   * collection: the simulator checks them after every event.
   */
  visitBoundedSizes(visit: BoundVisitor): void {
    visitBoundedSizes(this.#boundedParts(), visit);
  }

  #boundedParts(): BoundedParts {
    return {
      config: this.config,
      state: this.#state,
      inboundWaiting: this.#inbound.waiting,
      inboundLongestSender: this.#inbound.longestSenderQueue,
      verifierCached: this.#verifier.cached,
      verifierInFlight: this.#verifier.inFlight,
      outboundSize: this.#outbound.size,
      releasesSize: this.#releases.size,
      inputsQueued: this.#inputs.length,
      writesInFlight: this.#writesInFlight,
      proposalsPending: this.#proposals.size,
      proposalsRecent: this.#proposals.recentSize,
      proposalsRecentMax: this.#proposals.recentMax,
      batcherVertices: this.#batcher.size,
      banned: this.#banned.size,
      evidence: this.#detector.evidence().length,
    };
  }

  /** Why this node takes no proposals: it is no validator of its epoch, or not yet one. */
  #notMember(): string {
    const { epoch, learning, config } = this.#state;
    const joining = config.reconfiguration?.joining?.epoch;
    return learning
      ? `this node joins the validators at epoch ${joining} and is still fetching epoch ${epoch}'s history`
      : `this node is not a validator of epoch ${epoch}`;
  }

  /**
   * The epochs this replica knows, oldest first: each one's first and (once a request closed it)
   * last sequence, and the request that opened it. Durable: read back after a restart.
   */
  epochHistory(): readonly EpochRecord[] {
    return this.#state.epochs;
  }

  /** Where the replica stands, for operators and tests. */
  status(): EngineStatus {
    const state = this.#state;
    const validators = this.#roster().nodes;
    const reputations: Record<NodeId, number> = {};
    for (const [index, id] of validators.entries()) reputations[id] = this.#detector.reputation(index);
    return {
      nodeId: this.config.nodeId,
      state: this.#lifecycle.state,
      epoch: state.epoch,
      validators,
      member: state.member,
      learning: state.learning,
      faultTolerance: state.config.faultTolerance,
      quorum: state.config.quorum,
      acknowledgeCopies: state.config.acknowledgeCopies,
      view: state.view,
      viewActive: state.viewActive,
      // One that left keeps its last configuration; the new epoch's view 0 is led by its first.
      leader: (state.member ? validators[primaryOf(state.config, state.view)] : validators[0])!,
      isLeader: this.isLeader(),
      sequence: state.lastExecuted,
      stableCheckpoint: state.stable.sequence,
      pendingProposals: this.#proposals.size,
      deliveredRemembered: state.delivered.size,
      reputations,
      banned: [...this.#banned].sort(),
      logEntries: state.log.size,
      replicas: peerProgress(state, validators),
      pipeline: {
        framesAwaitingVerification: this.#inbound.waiting,
        messagesAwaitingSend: this.#outbound.size,
        writesInFlight: this.#writesInFlight,
        batcherVertices: this.#batcher.size,
        verifier: { ...this.#verifier.stats },
      },
    };
  }

  /**
   * Proposes a vertex for the total order, at this replica (a backup forwards it to the leader;
   * after a view change it goes to the new one). Resolves once the vertex is final here, with
   * its place in the order; resolves once even if the vertex is proposed again meanwhile.
   *
   * @throws ProposalRejectedError (as a rejection) with code 'stopped', 'full' (also when 16
   *   callers wait for this vertex already), 'oversized', 'invalid' or 'duplicate'; a proposal
   *   accepted and abandoned by `stop()` is rejected with 'stopped'.
   */
  propose(vertex: Vertex): Promise<ProposalResult> {
    const taken = this.#take(vertex);
    if (taken instanceof ProposalRejectedError) return Promise.reject(taken);
    if (typeof taken !== 'string') return Promise.resolve(taken);
    return new Promise((resolve, reject) => this.#hold(taken, vertex, { resolve, reject }));
  }

  /**
   * The checks and bookkeeping of `propose` without a waiter: the refusal, the place of a vertex
   * final already, or the key of the pending proposal the caller is to wait on. A vertex new
   * here goes to the batcher once the caller has registered its waiter (in the same turn).
   */
  #take(
    vertex: Vertex,
    refuseFull?: () => ProposalRejectedError,
  ): ProposalRejectedError | ProposalResult | string {
    if (!this.#lifecycle.is('running')) {
      return new ProposalRejectedError('stopped', `the engine is ${this.#lifecycle.state}`);
    }
    if (!this.#state.member) return new ProposalRejectedError('stopped', this.#notMember());
    const invalid = this.#checkVertex(vertex);
    if (invalid !== null) return invalid;
    const key = vertexKey(vertex);
    if (this.#proposals.crowded(key)) {
      return new ProposalRejectedError(
        'full',
        `${PROPOSAL_WAITERS_MAX} callers wait for this vertex already; it is pending, so wait for it`,
      );
    }
    if (this.#proposals.has(key)) return key;
    const recent = this.#proposals.recent(key);
    if (recent !== undefined) return recent;
    const finalizedAt = this.#state.delivered.sequenceOf(key);
    if (finalizedAt !== undefined) {
      const earlier = this.#finalizedPlace(vertex, key, finalizedAt);
      if (earlier !== null) return earlier;
      return new ProposalRejectedError('duplicate', `the vertex was finalized at sequence ${finalizedAt}`);
    }
    const unusable = this.#checkValidity(vertex);
    if (unusable !== null) return unusable;
    if (this.#proposals.size >= this.config.pendingProposalsMax) {
      return refuseFull === undefined ? this.#pendingFull() : refuseFull();
    }
    return key;
  }

  #pendingFull(): ProposalRejectedError {
    return new ProposalRejectedError(
      'full',
      `${this.#proposals.size} proposals are pending (pendingProposalsMax)`,
    );
  }

  /** Registers `waiter` on the proposal `key` ({@link BftEngine.#take}); a new one is batched. */
  #hold(key: string, vertex: Vertex, waiter: ProposalWaiter): void {
    if (this.#proposals.add(key, vertex, this.#clock.now(), waiter)) {
      this.#batcher.add(vertex);
      if (!this.isLeader()) this.#knownVertices.add(vertex);
    }
    this.#metrics.pendingProposals.set(this.#proposals.size);
  }

  /**
   * Proposes `vertex` as `propose` does, and resolves once this replica holds it durably: from
   * then on a crash of this node does not lose it (the restarted node proposes it again), so
   * its submitter may be told it was accepted. `final` settles as `propose`'s promise does.
   *
   * @throws ProposalRejectedError (as a rejection) when the vertex is refused before it is
   *   held durably, with the codes of `propose`.
   */
  async accept(vertex: Vertex): Promise<AcceptedProposal> {
    // The checks of `propose`: a refused vertex gets no waiter of either kind.
    const taken = this.#take(vertex);
    if (taken instanceof ProposalRejectedError) throw taken;
    // Final already, which is durable.
    if (typeof taken !== 'string') return { final: Promise.resolve(taken) };
    const acknowledged = Promise.withResolvers<void>();
    const final = new Promise<ProposalResult>((resolve, reject) =>
      this.#hold(taken, vertex, {
        resolve,
        reject: (error) => {
          // Refused before it was held: this method throws. After: only `final` rejects.
          acknowledged.reject(error);
          reject(error);
        },
        acknowledged: acknowledged.resolve,
      }),
    );
    // The caller hears of a refusal from this method; `final` is theirs to await or not.
    final.catch(() => {});
    await acknowledged.promise;
    return { final };
  }

  /**
   * {@link BftEngine.accept} for a list, with one promise for it rather than two for each vertex:
   * resolves once every vertex is held durably or refused, with the refusal or null for each, in
   * order. A vertex given up on after it was held (the engine stopped, it expired) is reported to
   * `onGivenUp`; one final already counts as held. The vertices refused because too many
   * proposals are pending share one error object.
   */
  acceptMany(
    vertices: readonly Vertex[],
    onGivenUp?: (vertex: Vertex, error: ProposalRejectedError) => void,
  ): Promise<(ProposalRejectedError | null)[]> {
    const list = new AcceptedList(vertices, onGivenUp);
    // One refusal serves every vertex of the list that a full registry turns away: the registry
    // does not drain within the loop, so they share its reason, and an error with its stack
    // trace for each was work an overloaded leader did for every vertex it could not take.
    let full: ProposalRejectedError | undefined;
    const refuseFull = (): ProposalRejectedError => {
      full ??= this.#pendingFull();
      return full;
    };
    for (let index = 0; index < vertices.length; index++) {
      const vertex = vertices[index]!;
      const taken = this.#take(vertex, refuseFull);
      if (taken instanceof ProposalRejectedError) list.refuse(index, taken);
      else if (typeof taken === 'string') this.#hold(taken, vertex, list.waiter(index));
    }
    return list.settled();
  }

  /**
   * Whether this replica holds the vertex with hash `hash` (hex) for ordering: accepted here
   * (before or after a restart) and neither final nor expired yet.
   */
  holds(hash: string): boolean {
    return this.#state.pending.has(hash) || this.#proposals.has(hash);
  }

  /**
   * A vertex of this payload (and parents) valid for as long as the engine allows: through
   * `dedupHorizonSequences` sequences past the last one finalized here. Propose it soon: a
   * vertex that waits past its validThrough is rejected with code 'expired'.
   *
   * @throws ArgumentError on a parent hash that is not 32 bytes.
   */
  createVertex(payload: Uint8Array, parents: readonly Uint8Array[] = []): Vertex {
    return createVertex(payload, {
      parents,
      validThrough: this.#state.lastExecuted + this.config.replica.dedupHorizonSequences,
    });
  }

  /**
   * The vertices finalized here, in the total order (the same at every honest replica). Without
   * options, from the next one on: subscribe before proposing. With `from: sequence` (or
   * `after: { sequence, position }`, to resume after the last vertex an application applied),
   * what the store still holds from there is replayed first, then the stream goes on live, each
   * vertex once (see `finalized-replay.ts`). A live subscriber buffers up to `bufferMax`
   * (default `finalizedBufferMax`) vertices; one that falls further behind gets a
   * SubscriberOverflowError, and may resume with `after` its last vertex. The stream ends when
   * the engine stops.
   *
   * @throws ArgumentError on a bad `from` or `after`. The iterator rejects with a
   *   FinalizedHistoryError (code 'pruned') when the store no longer holds a sequence the replay
   *   needs (it keeps `logRetention` sequences).
   */
  finalized(options: FinalizedOptions = {}): AsyncIterableIterator<FinalizedVertex> {
    const bufferMax = options.bufferMax ?? this.config.finalizedBufferMax;
    if (options.from === undefined && options.after === undefined) return this.#stream.subscribe(bufferMax);
    return replayFinalized(
      {
        finalizedAt: (sequence) => this.#store.finalizedAt(sequence),
        deliveredThrough: () => this.#deliveredThrough,
        subscribe: () => this.#stream.subscribe(bufferMax),
      },
      startAfter(options),
    );
  }

  // -------------------------------------------------------------------------------------------
  // Proposals

  #checkVertex(vertex: Vertex): ProposalRejectedError | null {
    const { vertexPayloadBytesMax, vertexParentsMax, batchMaxBytes } = this.config;
    if (
      vertex.payload.length > vertexPayloadBytesMax ||
      vertex.parents.length > vertexParentsMax ||
      vertexPayloadBytes(vertex) > batchMaxBytes
    ) {
      return new ProposalRejectedError(
        'oversized',
        `a vertex of ${vertex.payload.length} payload bytes and ${vertex.parents.length} parents exceeds ` +
          `vertexPayloadBytesMax ${vertexPayloadBytesMax}, vertexParentsMax ${vertexParentsMax} or batchMaxBytes ${batchMaxBytes}`,
      );
    }
    if (!hasValidHash(vertex)) {
      return new ProposalRejectedError(
        'invalid',
        'the vertex hash does not match; build vertices with createVertex',
      );
    }
    return null;
  }

  /**
   * Why `vertex` can never be final, or null: the cluster finalized its validThrough without it
   * ('expired'), or its validThrough lies further ahead than the replicas remember deliveries
   * ('invalid').
   */
  #checkValidity(vertex: Vertex): ProposalRejectedError | null {
    const next = this.#state.lastExecuted + 1;
    const horizon = this.config.replica.dedupHorizonSequences;
    if (vertex.validThrough < next) {
      return new ProposalRejectedError(
        'expired',
        `the vertex was valid through sequence ${vertex.validThrough} and sequence ${next - 1} is final: propose its payload again as a new vertex`,
      );
    }
    if (vertex.validThrough - next >= horizon) {
      return new ProposalRejectedError(
        'invalid',
        `the vertex is valid through sequence ${vertex.validThrough}, more than dedupHorizonSequences (${horizon}) past the last final sequence ${next - 1}; build it with engine.createVertex`,
      );
    }
    return null;
  }

  /** The rejection of a vertex the core would not hold (its validity changed while it was batched). */
  #refusal(reason: Ready['refused'][number]['reason']): ProposalRejectedError {
    return reason === 'expired'
      ? new ProposalRejectedError(
          'expired',
          'the vertex expired before it could be ordered: propose its payload again as a new vertex',
        )
      : new ProposalRejectedError(
          'invalid',
          'the vertex is valid further ahead than dedupHorizonSequences allows',
        );
  }

  /**
   * Where a vertex finalized here earlier (proposed anywhere) sits in the order, read back from
   * the store: its index in the batch finalized at `sequence`. Null if the record is no longer
   * (or not yet) held.
   */
  #finalizedPlace(vertex: Vertex, key: string, sequence: number): ProposalResult | null {
    const record = this.#store.finalizedAt(sequence);
    if (record === undefined) return null;
    for (const position of record.delivered) {
      if (vertexKey(record.batch[position]!) === key) return { hash: vertex.hash, sequence, position };
    }
    return null;
  }

  #proposeBatch(batched: readonly Vertex[]): void {
    if (this.#lifecycle.is('halted', 'stopped')) return;
    // Sequences were finalized while these waited in the batcher: any that expired meanwhile is
    // told so here, since the core holds nothing that can never be final.
    const vertices: Vertex[] = [];
    for (const vertex of batched) {
      const unusable = this.#checkValidity(vertex);
      if (unusable === null) vertices.push(vertex);
      else this.#proposals.reject(vertexKey(vertex), unusable);
    }
    if (vertices.length === 0) return;
    this.#tracer?.({ at: traceNow(), step: 'proposal', sequence: null, detail: vertices.length });
    this.#input({ kind: 'propose', vertices }, (verdict) => {
      if (verdict === null || verdict.outcome === 'accepted') return;
      const reason = verdict.outcome === 'ignored' ? verdict.reason : null;
      const code = reason === 'oversized' ? 'oversized' : reason === 'not-member' ? 'stopped' : 'full';
      const error = new ProposalRejectedError(code, `the replica refused the batch (${reason ?? code})`);
      for (const vertex of vertices) this.#proposals.reject(vertexKey(vertex), error);
    });
  }

  // -------------------------------------------------------------------------------------------
  // Receiving

  #onFrame(fromNode: NodeId, frame: Uint8Array): void {
    if (!this.#acceptingFrames) return;
    // One that left the validator set takes part in nothing (the core would ignore it all); a
    // learner hears the state replies it asked for.
    if (!this.#state.member && !this.#state.learning) {
      this.#dropped(fromNode, 'unknown', 'ignored');
      return;
    }
    // Only validators of the current epoch have a replica id to be heard under; former ones
    // are answered by the engine itself (see `former-validators.ts`).
    const roster = this.#roster();
    const from = roster.replicaOf.get(fromNode);
    const known =
      from === undefined ? this.#formerValidators.isFormer(fromNode) : roster.keys[from] !== undefined;
    if (!known || from === this.#state.config.self) {
      this.#dropped(fromNode, 'unknown', 'unknown-sender');
      return;
    }
    if (this.#banned.has(fromNode)) {
      this.#dropped(fromNode, 'unknown', 'banned');
      return;
    }
    this.#inbound.receive(fromNode, frame);
  }

  /**
   * Which messages are checked, by their epoch: those of the current one; of an earlier epoch,
   * the STATUS, CHECKPOINT and STATE-REQUEST the core still answers (`onOtherEpoch`), checked
   * with that epoch's keys; of a later one, a STATUS, which tells the core it fell behind and
   * which this replica cannot check yet (its link names the sender).
   */
  #admit(message: Message): Admission {
    if (!('epoch' in message)) return 'check';
    const epoch = this.#state.epoch;
    if (message.epoch === epoch) return 'check';
    if (message.epoch > epoch) return message.kind === 'status' ? 'hint' : 'other-epoch';
    if (this.#rosters.of(message.epoch) === undefined) return 'other-epoch';
    const answered =
      message.kind === 'status' || message.kind === 'checkpoint' || message.kind === 'state-request';
    return answered ? 'check' : 'other-epoch';
  }

  /**
   * {@link Engine.#admit}, then the vote gate: a PREPARE or COMMIT its certificate does not need
   * now is kept aside unchecked. Its sender still counts as taking part (the link names it).
   */
  #admitChecked(from: NodeId, message: Message): Admission {
    const admission = this.#admit(message);
    if (admission !== 'check' || !isGatedVote(message)) return admission;
    // A vote queued behind its sender's earlier frames is checked but not counted: counted, it
    // would make the certificate wait for that queue, which a Byzantine peer can make long.
    if (this.#inbound.queuedFrom(from) > 0) return 'check';
    if (this.#voteGate.admit(message, from, () => this.#inbound.checkAside(from, message))) return 'check';
    this.#countReceived(message.kind, 'surplus');
    const replica = this.#roster().replicaOf.get(from);
    if (replica !== undefined) this.#detector.participated(replica);
    return 'surplus';
  }

  #onChecked(fromNode: NodeId, message: Message, outcome: VerifyOutcome, seconds: number | null): void {
    // A counted vote that is not stepped gives its place to a parked one; a stepped one, once the
    // core has recorded it.
    const stepped = this.#stepChecked(fromNode, message, outcome, seconds);
    if (!stepped && isGatedVote(message)) this.#voteGate.settled(message);
  }

  /** Steps a checked message unless it is to be dropped; returns whether it was stepped. */
  #stepChecked(fromNode: NodeId, message: Message, outcome: VerifyOutcome, seconds: number | null): boolean {
    if (!this.#acceptingFrames) return false;
    if (seconds !== null) this.#metrics.signatureVerifySeconds.observe(seconds);
    // Numbered in the epoch the replica is in now, which may have changed since the frame came.
    const from = this.#roster().replicaOf.get(fromNode);
    if (this.#banned.has(fromNode)) {
      this.#dropped(fromNode, message.kind, 'banned');
      return false;
    }
    // The replica may have moved to another epoch while the frame was checked: a message it would
    // not take now is ignored, as on arrival, rather than blamed on a sender of the earlier epoch.
    if (this.#admit(message) === 'other-epoch') {
      this.#dropped(fromNode, message.kind, 'ignored');
      return false;
    }
    if (from === undefined && outcome === 'valid' && this.#formerValidators.answer(fromNode, message)) {
      this.#countReceived(message.kind, 'accepted');
      return false;
    }
    if (outcome === 'unknown-sender' || from === undefined) {
      this.#dropped(fromNode, message.kind, 'unknown-sender');
      return false;
    }
    if (outcome === 'invalid-signature') {
      this.#dropped(fromNode, message.kind, 'invalid-signature');
      // The detector judges with the current epoch's keys; another epoch's bad signature is
      // dropped without a verdict it could get wrong.
      if (!('epoch' in message) || message.epoch === this.#state.epoch)
        this.#banAll(this.#detector.invalidSignature(from, message));
      return false;
    }
    this.#traceMessage('verified', message, from);
    this.#stepMessage(
      from,
      message,
      isGatedVote(message) ? () => this.#voteGate.settled(message) : undefined,
    );
    return true;
  }

  /**
   * Steps a message that came from `from` (this replica's own copies too). REQUEST and HELD are
   * unsigned and name no epoch: the link names their sender, and a sender in another epoch than
   * this replica (perhaps one this replica does not know yet) named itself by its id there. They
   * are stepped under the sender's id here; what they carry is the link's sender's word either way.
   */
  #stepMessage(from: ReplicaId, message: Message, onStepped?: () => void): void {
    const renamed =
      (message.kind === 'request' || message.kind === 'held') && message.replica !== from
        ? { ...message, replica: from }
        : message;
    this.#input({ kind: 'message', from, message: renamed }, onStepped);
  }

  #countReceived(type: string, outcome: MessageOutcome): void {
    this.#metrics.messagesReceived.inc({ type, outcome });
  }

  #dropped(from: NodeId, type: string, outcome: MessageOutcome): void {
    this.#countReceived(type, outcome);
    if (this.listenerCount('dropped') > 0) this.#emitSafely('dropped', { from, type, outcome });
  }

  // -------------------------------------------------------------------------------------------
  // Stepping the core

  /** Queues an input; steps the queue unless a step is already under way (it will get to it). */
  #input(input: Input, onVerdict?: (verdict: Verdict | null) => void): void {
    this.#inputs.push({ input, onVerdict });
    if (this.#stepping) return;
    this.#stepping = true;
    try {
      for (;;) {
        const next = this.#inputs.shift();
        if (next === undefined) break;
        if (this.#lifecycle.is('halted')) continue;
        this.#stepOnce(next);
      }
    } finally {
      this.#stepping = false;
    }
    // The last round ended: what waited behind it goes now rather than at its batch's deadline.
    if (this.#batcher.size > 0 && this.#lifecycle.is('running') && pipelineIdle(this.#state)) {
      this.#batcher.flush();
    }
    this.#updateGauges();
    this.#checkQuiet();
  }

  #stepOnce({ input, onVerdict }: QueuedInput): void {
    const self = this.#state.config.self;
    const roster = this.#roster();
    let ready: Ready;
    try {
      ready = step(this.#state, input);
    } catch (error) {
      this.#halt(error);
      return;
    }
    if (input.kind === 'message' && input.from !== self) {
      this.#countReceived(input.message.kind, ready.verdict?.outcome ?? 'accepted');
    }
    this.#probe.stepped?.(input, ready, roster.epoch);
    if (this.#tracer !== null) this.#traceStep(input, ready);
    onVerdict?.(ready.verdict);
    for (const { key, reason } of ready.refused) this.#proposals.reject(key, this.#refusal(reason));
    // The detector judges the current epoch's messages, by their ids in it; the core's answers
    // to another epoch's (`onOtherEpoch`) say nothing about their senders' behaviour.
    const otherEpoch =
      input.kind === 'message' && 'epoch' in input.message && input.message.epoch !== roster.epoch;
    const banned = otherEpoch ? [] : this.#detector.recordStep(input, ready);
    this.#onEvents(ready.events);
    if (this.#state.epochs !== this.#epochsLearned || this.#state.epoch !== this.#epochFollowed)
      this.#followEpoch(true);
    this.#handleReady(ready);
    this.#banAll(banned, roster);
    this.#pruneVoteGate();
  }

  /** Drops the parked votes of sequences executed since, and of views and epochs passed. */
  #pruneVoteGate(): void {
    const { epoch, view, lastExecuted } = this.#state;
    const at = this.#voteGatePrunedAt;
    if (at.epoch === epoch && at.view === view && at.lastExecuted === lastExecuted) return;
    this.#voteGatePrunedAt = { epoch, view, lastExecuted };
    this.#voteGate.prune(epoch, view, lastExecuted);
  }

  /**
   * Keeps the engine's side of epochs in step with the core's: learns the validators of every
   * epoch in the history, and once the replica is in a new one (it switched, or `switched` is
   * false and it restarted in it), scores its validators afresh, carries the bans over by node
   * id, and says so.
   */
  #followEpoch(switched: boolean): void {
    const state = this.#state;
    try {
      this.#rosters.learn(state.epochs);
      this.#epochsLearned = state.epochs;
      this.#limits = withReplicaCount(this.config.limits, this.#rosters.largestEpoch());
      if (state.epoch === this.#epochFollowed) return;
      this.#epochFollowed = state.epoch;
      const roster = this.#roster();
      if (state.member && this.#identityFor(state.epoch) === null) {
        throw new EpochKeyError(
          `epoch ${state.epoch} lists a key for ${this.config.nodeId} whose private half this node was not given: restart it with that key`,
        );
      }
      this.#detector = this.#createDetector();
      this.#formerValidators.clear();
      this.#violationsCounted = {};
      this.#primaryUnreachableSince = null;
      this.#reputationsShown.length = 0;
      for (const node of this.#banned) {
        const replica = roster.replicaOf.get(node);
        if (replica !== undefined) this.#input({ kind: 'banned', replica });
      }
      if (!state.member && !state.learning) {
        // Its clients' vertices live on at the validators holding copies (see `remapSources`).
        this.#batcher.clear();
        this.#proposals.rejectAll(
          new ProposalRejectedError(
            'stopped',
            `this node left the validator set in epoch ${state.epoch}: submit to one of ${roster.nodes.join(', ')}`,
          ),
        );
      }
      const start = state.epochs.find((record) => record.number === state.epoch)?.start ?? 0;
      this.#emitSafely('epoch-started', {
        epoch: state.epoch,
        start,
        validators: roster.nodes,
        member: state.member,
        learning: state.learning,
        restored: !switched,
      });
    } catch (error) {
      this.#halt(error);
    }
  }

  /** Persist, then release: the writes go to the store; the sealed effects wait for its receipt. */
  #handleReady(ready: Ready): void {
    if (ready.writes.length > 0) this.#persist(ready.writes, this.#state.writeOrdinal);
    // Effects that wait for a sync get their signatures meanwhile.
    if (ready.released.requires > this.#releases.durableThrough) {
      for (const draft of ready.drafts) this.#presign(draft);
    }
    if (ready.immediate.length > 0)
      this.#releaseBatch({ messages: ready.immediate, deliveries: [], acknowledged: [] });
    this.#release(this.#releases.push(ready.released));
    for (const request of ready.serveState) this.#serveState(request);
  }

  #persist(writes: Ready['writes'], through: number): void {
    this.#writesInFlight++;
    const releases = this.#releases;
    this.#store.apply(writes, through).then(
      (receipt) => {
        this.#writesInFlight--;
        if (this.#tracer !== null) this.#traceWrites('durable', writes);
        if (this.#lifecycle.is('halted') || releases !== this.#releases) return;
        this.#release(releases.durable(receipt));
        this.#checkQuiet();
      },
      (error: unknown) => {
        this.#writesInFlight--;
        this.#halt(error);
      },
    );
  }

  #sign(draft: Draft): Promise<Message> {
    // The draft's epoch picks the key: after a rotation, the previous epoch's messages keep the old one.
    const epoch = 'epoch' in draft ? draft.epoch : this.#state.epoch;
    const identity = this.#identityFor(epoch);
    if (identity === null) {
      return Promise.reject(
        new EpochKeyError(`this node holds no key of epoch ${epoch} to sign its ${draft.kind} with`),
      );
    }
    const signing = signDraftAsync(identity, draft);
    if (this.#tracer === null) return signing;
    return signing.then((message) => {
      this.#traceMessage('signed', message, undefined);
      return message;
    });
  }

  /** Signs a draft now, to be sent when its step's effects are released. */
  #presign(draft: Draft): void {
    const signing = this.#sign(draft);
    // A failure surfaces when the outbound queue takes the signature; none is left unhandled.
    signing.catch(() => undefined);
    this.#signing.set(draft, signing);
  }

  #release(batches: readonly Released[]): void {
    for (const released of batches) this.#releaseBatch(released);
  }

  #releaseBatch(released: Released): void {
    this.#probe.released?.(released);
    const { messages, deliveries, acknowledged } = released;
    for (const outbound of messages) {
      if ('draft' in outbound) {
        if (outbound.draft.kind === 'prepare') this.#metrics.preparesSent.inc();
        else if (outbound.draft.kind === 'commit') this.#metrics.commitsSent.inc();
        this.#traceMessage('released', outbound.draft, outbound.to);
      }
      this.#outbound.push(outbound);
    }
    for (const delivery of deliveries) this.#deliver(delivery);
    for (const key of acknowledged) this.#proposals.acknowledge(key);
  }

  #send(to: Destination, message: Message): void {
    if (this.#lifecycle.is('halted')) return;
    this.#probe.sent?.(to, message);
    const frame = encodeMessage(message);
    // The configuration check bounds every message the protocol must send by the frame limit,
    // and state replies are built to fit (see #serveState); peers would refuse anything larger.
    if (frame.length > this.config.maxFrameBytes) return;
    this.#metrics.messagesSent.inc({ type: message.kind });
    this.#traceMessage('sent', message, to);
    const self = this.#state.config.self;
    if (to === 'all' || to === 'others') {
      this.#transport.broadcast(frame);
      // The replica's own copy does not cross the network, and needs no signature check.
      if (to === 'all') this.#stepMessage(self, message);
    } else if (to === self) {
      this.#stepMessage(self, message);
    } else {
      // Ids are the current epoch's (docs/architecture.md, "Epochs in the engine").
      const node = this.#roster().nodes[to];
      if (node !== undefined) this.#transport.send(node, frame);
    }
  }

  /**
   * Answers a STATE-REQUEST from durable records, within one frame. A record the store cannot
   * read back (a damaged one fails its checksum) halts the engine: nothing damaged is served,
   * and the store is not to be trusted further.
   */
  #serveState(request: StateServeRequest): void {
    const reply = this.#stateReply(request);
    if (reply !== null) this.#outbound.push({ to: request.to, draft: reply });
  }

  /** The STATE-REPLY to `request`, within one frame; null when there is none to send. */
  #stateReply(request: StateServeRequest): Draft<StateReply> | null {
    const { batchMaxBytes, maxFrameBytes } = this.config;
    // A reply is signed with this node's key of the epoch it serves; one given up is not served.
    if (this.#identityFor(request.epoch) === null) return null;
    let reply: ReturnType<typeof buildStateReply>;
    try {
      reply = buildStateReply(this.#store, request, batchMaxBytes);
      // Commit certificates add to the batches: if the entries do not fit one frame, send the
      // first alone (the requester asks again for the rest).
      if (reply !== null && this.#signedBytes(reply) > maxFrameBytes) {
        reply = buildStateReply(this.#store, { ...request, toSequence: request.fromSequence }, 0);
      }
    } catch (error) {
      this.#halt(error);
      return null;
    }
    if (reply === null || this.#signedBytes(reply) > maxFrameBytes) return null;
    return reply;
  }

  /**
   * Sends a message to a node outside the current epoch (a former validator): outside the send
   * queue, whose destinations are this epoch's ids; nothing else to that node waits on it.
   */
  #sendToNode(node: NodeId, message: Promise<Message>): void {
    message.then(
      (signed) => {
        if (!this.#lifecycle.is('running', 'stopping')) return;
        const frame = encodeMessage(signed);
        if (frame.length <= this.config.maxFrameBytes) this.#transport.send(node, frame);
      },
      (error: unknown) => this.#halt(error),
    );
  }

  /** The encoded size of a draft once signed. */
  #signedBytes(draft: Draft): number {
    return encodedMessageBytes({
      ...draft,
      signature: new Uint8Array(this.#scheme.signatureBytes),
    } as Message);
  }

  #deliver(delivery: Delivery): void {
    this.#probe.delivered?.(delivery);
    this.#deliveredThrough = delivery.sequence;
    const count = delivery.vertices.length;
    this.#tracer?.({ at: traceNow(), step: 'delivered', sequence: delivery.sequence, detail: count });
    this.#metrics.verticesFinalized.inc(count);
    this.#metrics.batchSize.observe(count);
    const now = this.#clock.now();
    const emitting = this.listenerCount('finalized') > 0;
    const streaming = this.#stream.subscribers > 0;
    for (const key of delivery.expired) {
      this.#proposals.reject(
        key,
        new ProposalRejectedError(
          'expired',
          `sequence ${delivery.sequence} was finalized without the vertex, which was valid through it: propose its payload again as a new vertex`,
        ),
      );
    }
    for (let i = 0; i < count; i++) {
      const vertex = delivery.vertices[i]!;
      const result: ProposalResult = {
        hash: vertex.hash,
        sequence: delivery.sequence,
        position: delivery.positions[i]!,
      };
      if (this.#proposals.size > 0) {
        const proposedAt = this.#proposals.resolve(delivery.keys[i]!, result);
        if (proposedAt !== undefined)
          this.#metrics.finalityTime.observe(Math.max(0, now - proposedAt) / 1000);
      }
      if (!emitting && !streaming) continue;
      const item: FinalizedVertex = { ...result, vertex, view: delivery.view };
      if (streaming) this.#stream.push(item);
      if (emitting) {
        try {
          this.emit('finalized', item);
        } catch (error) {
          // A throwing listener is the application's bug: surface it without leaving the
          // engine half way through a step's effects.
          queueMicrotask(() => {
            throw error;
          });
        }
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tracing (off unless a tracer was given)

  #traceMessage(step: TraceStep, message: Message | Draft, peer: Destination | undefined): void {
    if (this.#tracer === null) return;
    const point: TracePoint = { at: traceNow(), step, sequence: sequenceOf(message), kind: message.kind };
    this.#tracer(peer === undefined ? point : { ...point, peer });
  }

  #traceStep(input: Input, ready: Ready): void {
    const tracer = this.#tracer!;
    const at = traceNow();
    if (input.kind === 'message') {
      const { message, from } = input;
      const detail = ready.verdict === null ? 'accepted' : verdictName(ready.verdict);
      tracer({ at, step: 'stepped', sequence: sequenceOf(message), kind: message.kind, peer: from, detail });
    }
    for (const event of ready.events) {
      if (event.kind === 'proposed') {
        tracer({ at, step: 'assigned', sequence: event.sequence, detail: event.vertices });
      }
    }
    this.#traceWrites('written', ready.writes);
  }

  #traceWrites(step: 'written' | 'durable', writes: Ready['writes']): void {
    const tracer = this.#tracer!;
    const at = traceNow();
    for (const write of writes) tracer({ at, step, sequence: writeSequence(write), kind: write.kind });
  }

  #onEvents(events: readonly ReplicaEvent[]): void {
    for (const event of events) {
      switch (event.kind) {
        case 'view-change-started':
          this.#metrics.viewChanges.inc();
          this.#emitSafely('view-change', { view: event.view, reason: event.reason });
          break;
        case 'view-entered':
          this.#emitSafely('view-entered', {
            view: event.view,
            leader: this.#roster().nodes[event.primary]!,
          });
          break;
        case 'checkpoint-stable':
          this.#prune(event.sequence);
          break;
        case 'proposed':
          this.#metrics.proposalsSent.inc();
          break;
        case 'state-transfer-requested':
          break;
        case 'left-validator-set':
          this.#handOver(event.epoch, event.pending);
          break;
        case 'join-refused':
          // Halted with the reason: the operator gave this node a chain the cluster did not follow.
          this.#halt(
            new JoinRefusedError(
              `the request that opened epoch ${event.epoch} is not the one this node was given to join it: check the chain of requests`,
            ),
          );
          break;
      }
    }
  }

  /**
   * A node that left hands the client vertices it held to every validator of `epoch`, as held
   * REQUESTs: each adopts them as its own (see `FormerValidators`), so that they become final
   * even when every other validator that held them left at the same boundary.
   */
  #handOver(epoch: number, vertices: readonly Vertex[]): void {
    if (vertices.length === 0) return;
    const nodes = this.#rosters.of(epoch)?.nodes ?? [];
    const chunk = this.config.batchMaxVertices;
    for (let offset = 0; offset < vertices.length; offset += chunk) {
      const request: Message = {
        kind: 'request',
        replica: 0,
        vertices: vertices.slice(offset, offset + chunk),
        hold: true,
      };
      for (const node of nodes)
        if (node !== this.config.nodeId) this.#sendToNode(node, Promise.resolve(request));
    }
  }

  /** Keeps `logRetention` finalized sequences in the store below the stable checkpoint. */
  #prune(stableSequence: number): void {
    const through = stableSequence - this.config.logRetention;
    if (through <= this.#prunedThrough) return;
    this.#prunedThrough = through;
    this.#writesInFlight++;
    this.#store.pruneFinalized(through).then(
      () => {
        this.#writesInFlight--;
        this.#checkQuiet();
      },
      (error: unknown) => {
        this.#writesInFlight--;
        this.#halt(error);
      },
    );
  }

  // -------------------------------------------------------------------------------------------
  // Bans, time, metrics

  /** Bans the validators the detector named, by their ids in `roster`'s epoch (the detector's). */
  #banAll(replicas: readonly ReplicaId[], roster: Roster = this.#roster()): void {
    for (const replica of replicas) {
      const node = roster.nodes[replica];
      if (node === undefined || node === this.config.nodeId || this.#banned.has(node)) continue;
      this.#banned.add(node);
      this.#inbound.clearSender(node);
      this.#metrics.bannedNodes.set(this.#banned.size);
      const current = this.#roster().replicaOf.get(node);
      if (current !== undefined) this.#input({ kind: 'banned', replica: current });
      this.#emitSafely('banned', { nodeId: node });
    }
  }

  #scheduleTick(): void {
    this.#tickTimer = this.#clock.setTimer(this.config.tickMs, () => {
      this.#tickTimer = null;
      if (!this.#lifecycle.is('running', 'stopping')) return;
      this.#input({ kind: 'tick' });
      this.#checkPrimaryReachable();
      this.#banAll(this.#detector.tick());
      this.#syncSlowMetrics();
      this.#scheduleTick();
    });
  }

  /**
   * Tells the core when the primary of the active view has had no connection for
   * `primaryUnreachableMs` (and again every as long while that lasts).
   */
  #checkPrimaryReachable(): void {
    const limitMs = this.config.primaryUnreachableMs;
    const state = this.#state;
    const primary = primaryOf(state.config, state.view);
    if (limitMs === 0 || !state.member || !state.viewActive || primary === state.config.self) {
      this.#primaryUnreachableSince = null;
      return;
    }
    if (this.#transport.connectedPeers().includes(this.#roster().nodes[primary]!)) {
      this.#primaryUnreachableSince = null;
      return;
    }
    const now = this.#clock.now();
    if (this.#primaryUnreachableSince === null) {
      this.#primaryUnreachableSince = now;
      return;
    }
    if (now - this.#primaryUnreachableSince < limitMs) return;
    this.#primaryUnreachableSince = now;
    this.#input({ kind: 'unreachable', replica: primary });
  }

  #updateGauges(): void {
    const state = this.#state;
    this.#metrics.currentView.set(state.view);
    this.#metrics.currentSequence.set(state.lastExecuted);
    this.#metrics.stableCheckpoint.set(state.stable.sequence);
    this.#metrics.pendingProposals.set(this.#proposals.size);
  }

  /** Metrics read from the detector and the transport, refreshed once per tick. */
  #syncSlowMetrics(): void {
    const violations = this.#detector.violations();
    // The detector hands back the same object until it records another violation.
    if (violations !== this.#violationsCounted) {
      for (const [kind, count] of Object.entries(violations)) {
        const counted = this.#violationsCounted[kind] ?? 0;
        if (count > counted) this.#metrics.byzantineViolations.inc({ kind }, count - counted);
      }
      this.#violationsCounted = violations;
    }
    // Set only what changed: a labelled set costs a hash of its labels, once per validator per tick.
    const shown = this.#reputationsShown;
    for (const [index, id] of this.#roster().nodes.entries()) {
      const reputation = this.#detector.reputation(index);
      if (shown[index] === reputation) continue;
      shown[index] = reputation;
      this.#metrics.reputation.set({ node: id }, reputation);
    }
    const peers = this.#transport.connectedPeers().length;
    if (peers !== this.#peersShown) {
      this.#peersShown = peers;
      this.#metrics.peersConnected.set(peers);
    }
  }

  #emitSafely<K extends 'view-change' | 'view-entered' | 'banned' | 'dropped' | 'epoch-started'>(
    event: K,
    payload: EngineEvents[K][0],
  ): void {
    try {
      (this.emit as (event: K, payload: EngineEvents[K][0]) => boolean)(event, payload);
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  // -------------------------------------------------------------------------------------------
  // Stopping

  async #stop(options: StopOptions): Promise<void> {
    if (this.#lifecycle.is('starting')) {
      // Let the start finish (or fail) before taking the engine down.
      await this.#starting?.catch(() => undefined);
      if (!this.#lifecycle.is('running')) return;
    }
    this.#lifecycle.to('stopping', 'stop');
    // Hand over what the batcher holds: it was accepted, so it is drained like the rest.
    this.#batcher.flush();
    const drainTimeoutMs = options.drainTimeoutMs ?? 2 * this.config.viewChangeTimeoutMs;
    if (drainTimeoutMs > 0) {
      let deadline: Timer | null = null;
      await Promise.race([
        this.#proposals.whenEmpty(),
        new Promise<void>((resolve) => {
          deadline = this.#clock.setTimer(drainTimeoutMs, resolve);
        }),
      ]);
      (deadline as Timer | null)?.cancel();
    }
    if (this.#lifecycle.is('halted')) return;
    this.#tickTimer?.cancel();
    this.#tickTimer = null;
    this.#acceptingFrames = false;
    this.#inbound.clear();
    this.#proposals.rejectAll(
      new ProposalRejectedError(
        'stopped',
        `the engine stopped before the vertex was final (${drainTimeoutMs} ms drain)`,
      ),
    );
    // What was already stepped still finishes: writes become durable, released messages are
    // signed and sent (the replica's own copies of them are stepped too, and may write more).
    await this.#whenQuiet();
    await this.#transport.stop();
    if (this.#lifecycle.is('halted')) return;
    this.#stream.end();
    this.#updateGauges();
    this.#lifecycle.to('stopped', 'finish stopping');
  }

  #isQuiet(): boolean {
    return (
      this.#writesInFlight === 0 && this.#outbound.size === 0 && this.#inputs.length === 0 && !this.#stepping
    );
  }

  #whenQuiet(): Promise<void> {
    if (this.#isQuiet() || this.#lifecycle.is('halted')) return Promise.resolve();
    return new Promise((resolve) => this.#quietWaiters.push(resolve));
  }

  #checkQuiet(): void {
    if (this.#quietWaiters.length === 0 || !(this.#isQuiet() || this.#lifecycle.is('halted'))) return;
    const waiters = this.#quietWaiters;
    this.#quietWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Stops for good after a broken invariant, a failed write or a failed signature: nothing
   * more is sent from possibly damaged state. Pending proposals are rejected; 'error' is emitted.
   */
  #halt(cause: unknown): void {
    if (this.#lifecycle.is('halted', 'stopped', 'created')) return;
    this.#lifecycle.to('halted', 'halt');
    const error = cause instanceof Error ? cause : new Error(String(cause));
    this.#tickTimer?.cancel();
    this.#tickTimer = null;
    this.#acceptingFrames = false;
    this.#inbound.clear();
    this.#outbound.close();
    this.#batcher.clear();
    this.#inputs.drain();
    this.#proposals.rejectAll(new ProposalRejectedError('stopped', 'the engine halted', { cause: error }));
    this.#stream.end(error);
    this.#checkQuiet();
    void this.#transport.stop();
    this.emit('error', error);
  }
}
