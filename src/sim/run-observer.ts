/**
 * What a run watches: every replica reports what its engine and host do here (the run's
 * `SimContext.observer`), and the observer counts it, feeds the checkers and records a
 * violation the moment an honest replica does what an honest replica never may.
 */
import { toHex } from '../crypto/digest.ts';
import { insecureSimulationScheme } from '../crypto/index.ts';
import type { FinalizedVertex } from '../engine/index.ts';
import type { MessageOutcome } from '../metrics/index.ts';
import {
  type Delivery,
  type Input,
  isSignedKind,
  type Message,
  type Ready,
  type Released,
} from '../protocol/index.ts';
import { CONSENSUS_CONTEXT } from '../shell/signing.ts';
import { decodeMessage, signaturesOf } from '../wire/index.ts';
import { BoundsChecker } from './bounds-checker.ts';
import { SafetyChecker } from './checkers.ts';
import type { Clients } from './clients.ts';
import type { HostObserver } from './host.ts';
import type { EngineInstance, InstanceObserver } from './instance.ts';
import { EpochDirectory } from './reconfiguration.ts';
import type { RunPlan } from './run-plan.ts';
import { SendOrderChecker } from './send-order.ts';
import { StreamChecker } from './streams.ts';

export interface SimCounters {
  viewChanges: number;
  stateTransfers: number;
  checkpoints: number;
  crashes: number;
  partitions: number;
  oneWayCuts: number;
  slowLinks: number;
  rejected: number;
  dropped: number;
  /** Frames dropped because their sender was banned by the receiver. */
  droppedFromBanned: number;
  /** Frames dropped because their sender had too many waiting (`inboundFramesPerPeerMax`). */
  droppedOverloaded: number;
  evidence: number;
  /** Bans by honest replicas' detectors (one per banning replica and banned replica). */
  bans: number;
  /** Client vertices that expired unfinalized and were submitted again as new vertices. */
  expired: number;
  /** Processes halted by a failed sync (and restarted). */
  syncFailures: number;
  /** Starts refused on a damaged disk. */
  refusals: number;
  /** Disks wiped after a refusal (the replica rejoined by state transfer). */
  wipes: number;
  /** Replicas added back to the validators on a new machine, an empty disk (`--reconfigure`). */
  rejoins: number;
  /** `accept` results checked against every honest replica's finalized stream. */
  resolutionsChecked: number;
  /** Vertices whose one place in the order the run held every honest delivery to (exactly once). */
  verticesPlaced: number;
}

/** Message kinds that carry signatures of replicas other than their sender. */
const NESTING_KINDS = new Set<Message['kind']>(['view-change', 'new-view', 'state-reply']);

export class RunObserver implements InstanceObserver, HostObserver {
  readonly counters: SimCounters = {
    viewChanges: 0,
    stateTransfers: 0,
    checkpoints: 0,
    crashes: 0,
    partitions: 0,
    oneWayCuts: 0,
    slowLinks: 0,
    rejected: 0,
    dropped: 0,
    droppedFromBanned: 0,
    droppedOverloaded: 0,
    evidence: 0,
    bans: 0,
    expired: 0,
    syncFailures: 0,
    refusals: 0,
    wipes: 0,
    rejoins: 0,
    resolutionsChecked: 0,
    verticesPlaced: 0,
  };
  /** Verdicts the honest replicas' cores gave, by `outcome:reason`. */
  readonly verdicts: Record<string, number> = {};
  /** Replicas against which an honest replica recorded a proven violation. */
  readonly detected = new Set<number>();
  /** Replicas an honest replica banned. */
  readonly bannedByHonest = new Set<number>();
  readonly checker: SafetyChecker;
  /** The run's epochs, as the honest replicas' histories record them (one history only). */
  readonly epochs: EpochDirectory;
  readonly #streams: StreamChecker;
  readonly bounds: BoundsChecker;
  readonly #sendOrder: SendOrderChecker;
  readonly #plan: RunPlan;
  readonly #clients: Clients;
  /** Vertices Byzantine replicas forwarded of their own (see `frameArrived`). */
  readonly #byzantineProposed = new Set<string>();
  /** Processes an event ran in, checked once its microtasks have run. */
  readonly #touched: EngineInstance[] = [];

  constructor(plan: RunPlan, clients: Clients, operatorProposed: ReadonlySet<string> = new Set()) {
    this.#plan = plan;
    this.#clients = clients;
    const n = plan.replicaCount;
    // A Byzantine replica's own vertices and the operator's requests are proposals too.
    const othersProposed = {
      has: (key: string) => this.#byzantineProposed.has(key) || operatorProposed.has(key),
    };
    this.checker = new SafetyChecker(n, clients.proposed, plan.isHonest, othersProposed);
    const violate = (message: string): void => this.checker.violate(message);
    this.epochs = new EpochDirectory(n, violate);
    this.#streams = new StreamChecker(n, violate);
    this.bounds = new BoundsChecker(violate);
    this.#sendOrder = new SendOrderChecker(n, violate);
  }

  /** No violation so far. */
  get clean(): boolean {
    return this.checker.violations.length === 0;
  }

  violate(message: string): void {
    this.checker.violate(message);
  }

  /** After each event and its microtasks: the engines of the processes it ran in stay within bounds. */
  checkTouched(): void {
    while (this.#touched.length > 0) {
      const instance = this.#touched.pop()!;
      if (instance.process.alive) this.bounds.check(instance.replica, instance.engine);
    }
  }

  /**
   * Every `accept` that resolved at an honest replica names the place of its vertex in the
   * stream of every honest replica (`honest`): checked once everything is final.
   */
  checkResolutions(honest: readonly number[]): void {
    this.counters.resolutionsChecked = this.#streams.check(this.#clients.resolutions, honest);
  }

  /**
   * A frame reaches a replica. A Byzantine replica is a client too: the vertices it forwards in
   * a REQUEST, made up or mangled on the way, are its own proposals, as they would be had it
   * submitted them to an honest replica's API. REQUESTs are not signed, so nothing stops one
   * from reaching the order; validity still holds every vertex an honest replica delivers to a
   * client's proposal.
   */
  frameArrived(from: number, frame: Uint8Array): void {
    if (this.#plan.isHonest(from)) return;
    const decoded = decodeMessage(frame, this.#plan.resolved.limits);
    if (!decoded.ok || decoded.message.kind !== 'request') return;
    for (const vertex of decoded.message.vertices) this.#byzantineProposed.add(toHex(vertex.hash));
  }

  stepped(replica: number, input: Input, ready: Ready, epoch: number): void {
    const { isHonest } = this.#plan;
    const counters = this.counters;
    if (!isHonest(replica)) return;
    // Ids in what was stepped are those of the epoch the replica was in when it stepped it.
    const nodeOf = (id: number): number => this.epochs.replicaOf(epoch, id) ?? -1;
    for (const write of ready.writes) if (write.kind === 'epoch') this.epochs.learn(replica, write.record);
    for (const event of ready.events) {
      if (event.kind === 'view-change-started') counters.viewChanges++;
      else if (event.kind === 'state-transfer-requested') counters.stateTransfers++;
      else if (event.kind === 'checkpoint-stable') counters.checkpoints++;
    }
    for (const evidence of ready.evidence) {
      counters.evidence++;
      const offender = nodeOf(evidence.replica);
      this.detected.add(offender);
      if (isHonest(offender))
        this.violate(
          `evidence: replica ${replica} holds equivocation evidence against honest replica ${offender}`,
        );
    }
    if (input.kind !== 'message') return;
    const { message } = input;
    const from = nodeOf(input.from);
    const verdict = ready.verdict;
    if (verdict !== null) {
      const label = verdict.outcome === 'accepted' ? 'accepted' : `${verdict.outcome}:${verdict.reason}`;
      this.verdicts[label] = (this.verdicts[label] ?? 0) + 1;
      if (verdict.outcome === 'rejected') {
        counters.rejected++;
        const offender = nodeOf(verdict.offender);
        this.detected.add(offender);
        // An honest replica never sends anything another honest replica can prove wrong.
        if (isHonest(offender))
          this.violate(
            `blame: replica ${replica} rejected a ${message.kind} from ${from} as ${verdict.reason}, blaming honest replica ${offender}`,
          );
      }
    }
    // The core takes only authenticated messages: every signature in what reached it verifies.
    // Only a Byzantine replica makes bad signatures (an honest one that did would be caught
    // by the drop check): a message from one, or one carrying others' signatures, may hold one.
    if (
      this.#plan.byzantine.size > 0 &&
      from !== replica &&
      isSignedKind(message) &&
      (!isHonest(from) || NESTING_KINDS.has(message.kind)) &&
      // A STATUS of a later epoch is stepped unchecked, by design: a hint its link vouches for.
      !(message.kind === 'status' && message.epoch > epoch)
    ) {
      if (!this.#verifies(message))
        this.violate(
          `authenticity: replica ${replica} stepped a ${message.kind} from ${from} whose signatures do not verify`,
        );
    }
  }

  /** Whether every signature in `message` verifies with the keys of its signer's epoch. */
  #verifies(message: Message): boolean {
    for (const check of signaturesOf(message, this.#plan.clusterId)) {
      const key = this.epochs.epoch(check.epoch)?.keys[check.replica];
      if (key === undefined) return false;
      if (!insecureSimulationScheme.verify(key, check.bytes, check.signature, CONSENSUS_CONTEXT))
        return false;
    }
    return true;
  }

  delivered(replica: number, delivery: Delivery): void {
    this.checker.delivered(replica, delivery);
    if (this.#plan.isHonest(replica)) this.#clients.finalized(delivery);
  }

  released(replica: number, released: Released): void {
    if (!this.#plan.isHonest(replica)) return;
    this.#sendOrder.released(replica, released);
    // An honest replica signs only as itself, and only in epochs it is a validator of.
    for (const outbound of released.messages) {
      if (!('draft' in outbound) || !('epoch' in outbound.draft)) continue;
      const { epoch, replica: id, kind } = outbound.draft;
      const signer = this.epochs.replicaOf(epoch, id);
      if (signer !== replica)
        this.violate(
          `membership: replica ${replica} signed a ${kind} of epoch ${epoch} as id ${id}, ` +
            (signer === undefined ? 'which no validator of that epoch has' : `which is replica ${signer}'s`),
        );
    }
  }

  sent(replica: number, message: Message): void {
    if (this.#plan.isHonest(replica)) this.#sendOrder.sent(replica, message);
  }

  finalized(replica: number, vertex: FinalizedVertex): void {
    if (this.#plan.isHonest(replica)) this.#streams.finalized(replica, vertex);
  }

  /** `replica` dropped a frame from `from` while in `epoch` (see `BftEngine.epoch`). */
  dropped(replica: number, from: number, outcome: MessageOutcome, epoch: number): void {
    if (outcome === 'banned') {
      this.counters.droppedFromBanned++;
      return;
    }
    if (outcome === 'ignored') {
      this.counters.droppedOverloaded++;
      return;
    }
    this.counters.dropped++;
    if (!this.#plan.isHonest(replica)) return;
    // A replica that is no validator of the receiver's epoch (it left, or the receiver is
    // behind) is an unknown sender there, through no fault of its own.
    if (outcome === 'unknown-sender' && !this.epochs.isMember(epoch, from)) return;
    this.detected.add(from);
    // An honest replica never sends a frame another cannot decode or verify.
    if (this.#plan.isHonest(from))
      this.violate(`drop: replica ${replica} dropped a frame from honest replica ${from} as ${outcome}`);
  }

  banned(replica: number, offender: number): void {
    if (!this.#plan.isHonest(replica)) return;
    this.counters.bans++;
    this.bannedByHonest.add(offender);
    if (this.#plan.isHonest(offender))
      this.violate(`honest banned: replica ${replica} banned honest replica ${offender}`);
  }

  touched(instance: EngineInstance): void {
    this.#touched.push(instance);
  }

  refused(): void {
    this.counters.refusals++;
  }

  wiped(replica: number): void {
    this.counters.wipes++;
    this.#startOver(replica);
  }

  rejoined(replica: number): void {
    this.counters.rejoins++;
    this.#startOver(replica);
  }

  /** `replica`'s disk starts empty: it replays the history from sequence 1. */
  #startOver(replica: number): void {
    this.checker.wiped(replica);
    this.#streams.wiped(replica);
  }

  halted(replica: number, error: Error, expected: boolean): void {
    if (expected) this.counters.syncFailures++;
    // A Byzantine replica may drive its engine into a broken invariant: it stops, one more way
    // of being faulty. An honest one never may.
    else if (this.#plan.isHonest(replica)) this.violate(`halted: replica ${replica}: ${error.message}`);
  }

  changed(replica: number): void {
    this.#sendOrder.restarted(replica);
  }
}
