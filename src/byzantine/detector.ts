/**
 * The Byzantine detector: scores every replica from what the shell and the protocol core
 * observe, and bans the ones that have provably misbehaved. Pure and deterministic like the
 * core: no I/O, and time only as {@link ByzantineDetector.tick}.
 *
 * ## Rules
 *
 * - Scores are integer tenths: every replica starts at `initialReputationTenths` (10, a
 *   reputation of 1.0) and each violation costs `penaltyTenths[kind]` (1, that is 0.1). A
 *   replica whose reputation is below `banBelowTenths` (3) is banned. With the defaults, seven
 *   violations leave exactly 0.3 (not banned) and the eighth bans.
 * - Proven violations are permanent: equivocation, an invalid signature or a frame that does
 *   not decode over an authenticated channel (the sender is certain), and a message the core
 *   rejected (it verified, and breaks a rule no honest replica breaks). Core rejections map to
 *   kinds through {@link VIOLATION_OF_REJECT_REASON}: 'equivocation' stays equivocation, every
 *   other reason counts as 'malformed-message'.
 * - Unprovable violations are suspicion: a leader's timeout and non-participation. An honest
 *   replica that is slow or cut off by a partition looks exactly like that, so suspicion
 *   (a) recovers: one tenth per `suspicionRecoveryTicks` ticks without a new suspicion, and
 *   (b) is capped at `initialReputationTenths - banBelowTenths`, so that suspicion alone leaves
 *   a replica exactly at the threshold and never bans it. The cap shelters only an otherwise
 *   clean replica: suspicion adds to proven violations, so proven plus suspected can ban.
 * - Non-participation: a replica none of whose votes (PRE-PREPARE, PREPARE, COMMIT, CHECKPOINT
 *   signed by it and accepted by the core) was seen during a window of
 *   `nonParticipationWindowTicks` ticks, while votes from others were, gets one suspicion for
 *   that window. A window in which nobody voted (an idle cluster) blames nobody.
 * - An equivocation counts once per (replica, slot): honest replicas relay the conflicting
 *   message again and again (status answers), and the offence must not grow with the network's
 *   chatter. The last {@link EQUIVOCATION_SLOTS_REMEMBERED} slots per replica are remembered.
 * - Two VIEW-CHANGEs for one view never count as equivocation: an honest replica restarted
 *   while changing views rebuilds its VIEW-CHANGE from a newer checkpoint (see `evidence.ts`).
 * - An invalid signature becomes evidence only when the channel sender signed the outer
 *   message validly and a nested signature fails (it vouched for a forgery); a broken outer
 *   signature is scored the same, but only the channel knows who sent it, so it proves nothing.
 * - A timeout counts once per (leader, view), however many times it is reported.
 * - A ban is permanent for the life of the detector. `self` is never banned, and its own
 *   detector never suspects it (proven violations signed with its key, which only a twin
 *   running under the same identity produces, are still counted for operators to see).
 * - Bans never change quorum sizes: the detector knows no quorums. The shell drops a banned
 *   replica's messages and feeds the core a `banned` input, which moves it off a banned primary.
 * - Peer input never throws: ids outside the cluster are ignored, odd objects prove nothing.
 */
import {
  type EquivocationEvidence,
  type Input,
  isSignedKind,
  type Message,
  type Ready,
  type ReplicaId,
  type SignedMessage,
} from '../protocol/index.ts';
import { conflicting, type Evidence, evidenceCopy, provesInvalidSignature, slotOf } from './evidence.ts';
import { type DetectorConfig, type DetectorOptions, resolveDetectorConfig } from './options.ts';
import {
  isSuspicion,
  VIOLATION_KINDS,
  VIOLATION_OF_REJECT_REASON,
  type ViolationKind,
} from './violations.ts';

/** A snapshot of what the detector has recorded. */
export interface DetectorStats {
  /** Violations recorded so far, per kind (cumulative, suspicions included). */
  readonly violations: Readonly<Record<ViolationKind, number>>;
  /** Banned replicas, in ascending id order. */
  readonly banned: readonly ReplicaId[];
  /** Replicas with outstanding (not yet recovered) suspicion, in ascending id order. */
  readonly suspected: readonly ReplicaId[];
  /** Evidence objects held (see {@link ByzantineDetector.evidence}). */
  readonly evidence: number;
  /** Every replica's reputation in tenths, by id. */
  readonly reputationTenths: readonly number[];
}

/** Slots per replica whose equivocation is remembered, so that it is counted once. */
export const EQUIVOCATION_SLOTS_REMEMBERED = 64;

/** Message kinds that count as a replica's participation in quorums. */
const VOTE_KINDS: ReadonlySet<Message['kind']> = new Set(['pre-prepare', 'prepare', 'commit', 'checkpoint']);

/** What the detector holds for one replica. */
interface Standing {
  /** Tenths lost to proven violations, for good (at most the initial reputation). */
  provenTenths: number;
  /** Tenths lost to suspicion, recovering (at most initial - banBelow). */
  suspicionTenths: number;
  /** The tick of the last suspicion or recovery step: recovery counts from here. */
  suspicionQuietSinceTick: number;
  /** The highest view for which a timeout of this replica as leader was counted; -1 for none. */
  lastTimeoutView: number;
  /** Whether a vote signed by this replica was accepted in the current window. */
  votedInWindow: boolean;
  /** Slots this replica equivocated in, oldest first, at most {@link EQUIVOCATION_SLOTS_REMEMBERED}. */
  readonly equivocationSlots: Set<string>;
  banned: boolean;
}

/**
 * Scores replicas and bans the ones that misbehave, following the rules in this module's
 * comment: reputation in integer tenths, proven violations permanent, suspicion (timeouts,
 * non-participation) recovering over ticks and never banning alone, bans permanent, `self`
 * never banned.
 *
 * The shell reports what it sees before the core (signatures that fail, frames that do not
 * decode), feeds every step of the core through {@link ByzantineDetector.recordStep}, and calls
 * {@link ByzantineDetector.tick} once per core tick. When a call bans a replica, the shell
 * drops its messages from then on and gives the core a `banned` input. `recordStep` and `tick`
 * return the replicas they banned; after the `detect*` methods, which return evidence, compare
 * {@link ByzantineDetector.isBanned} before and after.
 *
 * Signature checks for invalid-signature evidence use `options.verification` (the scheme,
 * public keys and cluster id); without it, invalid signatures are scored but yield no evidence.
 */
export class ByzantineDetector {
  /** The resolved figures. */
  readonly config: DetectorConfig;
  readonly #standing: Standing[];
  readonly #violations: Record<ViolationKind, number>;
  #violationsRecorded = 0;
  /** At most one piece of evidence per (replica, kind): at most 2 x replicaCount entries. */
  readonly #evidence = new Map<string, Evidence>();
  /** Banned replicas in the order they were banned. */
  readonly #banned: ReplicaId[] = [];
  readonly #suspicionCapTenths: number;
  #nowTicks = 0;
  #windowStartTick = 0;
  #votesInWindow = false;

  /** @throws ConfigError naming the first invalid field of `options`. */
  constructor(options: DetectorOptions) {
    this.config = resolveDetectorConfig(options);
    this.#suspicionCapTenths = this.config.initialReputationTenths - this.config.banBelowTenths;
    this.#standing = Array.from({ length: this.config.replicaCount }, () => ({
      provenTenths: 0,
      suspicionTenths: 0,
      suspicionQuietSinceTick: 0,
      lastTimeoutView: -1,
      votedInWindow: false,
      equivocationSlots: new Set<string>(),
      banned: false,
    }));
    this.#violations = Object.fromEntries(VIOLATION_KINDS.map((kind) => [kind, 0])) as Record<
      ViolationKind,
      number
    >;
  }

  /** Violations recorded so far, of every kind: a cheap way to tell whether `stats()` changed them. */
  get violationsRecorded(): number {
    return this.#violationsRecorded;
  }

  /** Ticks seen so far. */
  get nowTicks(): number {
    return this.#nowTicks;
  }

  /**
   * Two messages, both already verified by the caller. When they conflict (same signer, same
   * slot: view and sequence for PRE-PREPARE, PREPARE and COMMIT, sequence for CHECKPOINT, view
   * for NEW-VIEW; different signed content), returns the evidence (PRE-PREPAREs without their
   * batch) and records an equivocation by the signer, once per (signer, slot). Otherwise
   * returns null and records nothing. VIEW-CHANGEs never conflict (see `evidence.ts`).
   */
  detectEquivocation(first: SignedMessage, second: SignedMessage): EquivocationEvidence | null {
    if (!conflicting(first, second) || !this.#isReplica(first.replica)) return null;
    const evidence: EquivocationEvidence = Object.freeze({
      kind: 'equivocation',
      replica: first.replica,
      first: evidenceCopy(first),
      second: evidenceCopy(second),
    });
    this.#keep(evidence);
    this.#recordEquivocation(first.replica, slotOf(first)!);
    return evidence;
  }

  /**
   * A message from `nodeId`, over an authenticated channel, failed signature verification.
   * Always records an invalid-signature violation by `nodeId`. Returns evidence when `message`
   * is given, `verification` was configured, and the message proves it: its outer signature is
   * `nodeId`'s and valid, and a nested one is not. Otherwise returns null.
   */
  detectInvalidSignature(nodeId: ReplicaId, message?: Message): Evidence | null {
    if (!this.#isReplica(nodeId)) return null;
    let evidence: Evidence | null = null;
    const verification = this.config.verification;
    if (
      verification !== null &&
      typeof message === 'object' &&
      message !== null &&
      message.replica === nodeId &&
      isSignedKind(message) &&
      provesInvalidSignature(message, verification)
    ) {
      evidence = Object.freeze({ kind: 'invalid-signature', replica: nodeId, message });
      this.#keep(evidence);
    }
    this.#record(nodeId, 'invalid-signature');
    return evidence;
  }

  /**
   * A frame from `nodeId`, over an authenticated channel, failed to decode: a proven
   * malformed-message violation. `reason` is for the caller's logs; scoring ignores it.
   */
  detectMalformed(nodeId: ReplicaId, _reason: string): void {
    this.#record(nodeId, 'malformed-message');
  }

  /**
   * The leader `nodeId` of `view` made no progress in time. Unprovable, so a suspicion; counted
   * once per (leader, view), and never against `self`.
   */
  detectTimeout(nodeId: ReplicaId, view: number): void {
    if (!this.#isReplica(nodeId) || !Number.isInteger(view) || view < 0) return;
    const standing = this.#standing[nodeId]!;
    if (view <= standing.lastTimeoutView) return;
    standing.lastTimeoutView = view;
    this.#record(nodeId, 'timeout');
  }

  /**
   * Learns from one step of the core: its input and the Ready it returned. Records the
   * equivocation evidence (once per offence, with the rejection that came with it), every
   * other rejected message (see {@link VIOLATION_OF_REJECT_REASON}), timeout suspicions, and
   * participation (accepted votes, by signer). Does not advance time: call
   * {@link ByzantineDetector.tick} for that. Returns the replicas this call banned.
   */
  recordStep(input: Input, ready: Pick<Ready, 'verdict' | 'evidence' | 'suspicions'>): ReplicaId[] {
    const bannedBefore = this.#banned.length;
    const proven = new Set<ReplicaId>();
    for (const evidence of ready.evidence) {
      if (this.detectEquivocation(evidence.first, evidence.second) !== null) proven.add(evidence.replica);
    }
    const verdict = ready.verdict;
    if (input.kind === 'message' && verdict !== null) {
      if (verdict.outcome === 'accepted') {
        if (VOTE_KINDS.has(input.message.kind)) this.#participated(input.message.replica);
      } else if (verdict.outcome === 'rejected') {
        const kind = VIOLATION_OF_REJECT_REASON[verdict.reason] ?? 'malformed-message';
        if (kind !== 'equivocation') this.#record(verdict.offender, kind);
        else if (!proven.has(verdict.offender)) {
          // No evidence came with it (the first message was this replica's own, unsigned):
          // still one offence in the slot of the message that conflicted.
          this.#recordEquivocation(verdict.offender, slotOf(input.message) ?? input.message.kind);
        }
      }
    }
    for (const suspicion of ready.suspicions) {
      if (suspicion.kind === 'timeout') this.detectTimeout(suspicion.replica, suspicion.view);
    }
    return this.#banned.slice(bannedBefore);
  }

  /**
   * One tick: suspicion recovers (one tenth per `suspicionRecoveryTicks` quiet ticks), and at
   * the end of each non-participation window, replicas absent from it are suspected. Returns
   * the replicas this tick banned: only a replica with proven violations can be, since
   * suspicion alone never bans.
   */
  tick(): ReplicaId[] {
    const bannedBefore = this.#banned.length;
    this.#nowTicks++;
    const { suspicionRecoveryTicks, nonParticipationWindowTicks, self } = this.config;
    for (const standing of this.#standing) {
      if (
        standing.suspicionTenths > 0 &&
        this.#nowTicks - standing.suspicionQuietSinceTick >= suspicionRecoveryTicks
      ) {
        standing.suspicionTenths--;
        standing.suspicionQuietSinceTick = this.#nowTicks;
      }
    }
    if (
      nonParticipationWindowTicks > 0 &&
      this.#nowTicks - this.#windowStartTick >= nonParticipationWindowTicks
    ) {
      if (this.#votesInWindow) {
        this.#standing.forEach((standing, replica) => {
          if (replica !== self && !standing.banned && !standing.votedInWindow) {
            this.#record(replica, 'non-participation');
          }
        });
      }
      for (const standing of this.#standing) standing.votedInWindow = false;
      this.#votesInWindow = false;
      this.#windowStartTick = this.#nowTicks;
    }
    return this.#banned.slice(bannedBefore);
  }

  /** Whether `nodeId` is banned (for good). False for ids outside the cluster. */
  isBanned(nodeId: ReplicaId): boolean {
    return this.#isReplica(nodeId) && this.#standing[nodeId]!.banned;
  }

  /** `nodeId`'s reputation, 0 to the initial reputation (1.0 by default); 0 for ids outside the cluster. */
  getReputation(nodeId: ReplicaId): number {
    return this.getReputationTenths(nodeId) / 10;
  }

  /** `nodeId`'s reputation in tenths; 0 for ids outside the cluster. */
  getReputationTenths(nodeId: ReplicaId): number {
    if (!this.#isReplica(nodeId)) return 0;
    const standing = this.#standing[nodeId]!;
    return Math.max(
      0,
      this.config.initialReputationTenths - standing.provenTenths - standing.suspicionTenths,
    );
  }

  /** Counts per violation kind, banned and suspected replicas, evidence held, reputations. */
  stats(): DetectorStats {
    const suspected: ReplicaId[] = [];
    const reputationTenths: number[] = [];
    this.#standing.forEach((standing, replica) => {
      if (standing.suspicionTenths > 0) suspected.push(replica);
      reputationTenths.push(this.getReputationTenths(replica));
    });
    return Object.freeze({
      violations: Object.freeze({ ...this.#violations }),
      banned: Object.freeze([...this.#banned].sort((a, b) => a - b)),
      suspected: Object.freeze(suspected),
      evidence: this.#evidence.size,
      reputationTenths: Object.freeze(reputationTenths),
    });
  }

  /**
   * The evidence held: the first piece per (replica, kind), so at most two per replica. Every
   * piece verifies with {@link verifyEvidence} given the cluster's public keys.
   */
  evidence(): readonly Evidence[] {
    return Object.freeze([...this.#evidence.values()]);
  }

  #isReplica(value: unknown): value is ReplicaId {
    return (
      typeof value === 'number' && Number.isInteger(value) && value >= 0 && value < this.config.replicaCount
    );
  }

  #keep(evidence: Evidence): void {
    const key = `${evidence.replica}/${evidence.kind}`;
    if (!this.#evidence.has(key)) this.#evidence.set(key, evidence);
  }

  /**
   * `replica` took part in a quorum with a vote its link authenticated but that was not checked,
   * since the quorum did not need it (the engine's vote gate).
   */
  recordParticipation(replica: ReplicaId): void {
    this.#participated(replica);
  }

  #participated(replica: ReplicaId): void {
    if (!this.#isReplica(replica)) return;
    this.#standing[replica]!.votedInWindow = true;
    this.#votesInWindow = true;
  }

  /** Scores an equivocation by `replica` in `slot`, unless that offence was scored already. */
  #recordEquivocation(replica: ReplicaId, slot: string): void {
    if (!this.#isReplica(replica)) return;
    const slots = this.#standing[replica]!.equivocationSlots;
    if (slots.has(slot)) return;
    slots.add(slot);
    if (slots.size > EQUIVOCATION_SLOTS_REMEMBERED) slots.delete(slots.values().next().value!);
    this.#record(replica, 'equivocation');
  }

  /** Scores one violation of `kind` by `replica` and bans it if that takes it below the threshold. */
  #record(replica: ReplicaId, kind: ViolationKind): void {
    if (!this.#isReplica(replica)) return;
    const { self, initialReputationTenths, banBelowTenths } = this.config;
    const suspicion = isSuspicion(kind);
    if (suspicion && replica === self) return;
    this.#violations[kind]++;
    this.#violationsRecorded++;
    const standing = this.#standing[replica]!;
    const penalty = this.config.penaltyTenths[kind];
    if (suspicion) {
      standing.suspicionTenths = Math.min(standing.suspicionTenths + penalty, this.#suspicionCapTenths);
      standing.suspicionQuietSinceTick = this.#nowTicks;
    } else {
      standing.provenTenths = Math.min(standing.provenTenths + penalty, initialReputationTenths);
    }
    if (!standing.banned && replica !== self && this.getReputationTenths(replica) < banBelowTenths) {
      standing.banned = true;
      this.#banned.push(replica);
    }
  }
}
