/**
 * Harness for the detector's cluster tests: the protocol-test cluster with, in front of each
 * honest core, what a shell does about Byzantine replicas: verify, drop a banned sender's
 * messages, feed every step to a detector, and tell the core about bans.
 *
 * Byzantine replicas are scripted by the tests (their cores never run) and sign for real with
 * the insecure simulation scheme, so that their messages can be checked and their evidence
 * verified. Honest cores keep the cluster harness's signature markers, which by that harness's
 * convention stand for signatures the shell has already verified.
 */

import { ByzantineDetector, type DetectorOptions, type EvidenceContext } from '../../src/byzantine/index.ts';
import { insecureSimulationScheme, type KeyPair, type SignatureScheme } from '../../src/crypto/index.ts';
import {
  type Draft,
  type Input,
  isSignedKind,
  type Message,
  type Ready,
  type ReplicaOptions,
} from '../../src/protocol/index.ts';
import { signDraft, verifyMessage } from '../../src/shell/signing.ts';
import { TestCluster } from '../support/cluster.ts';

export const CLUSTER_ID = 'test';

/** The key pair of `replica`, the same in every test run. */
export function keyPairOf(scheme: SignatureScheme, replica: number): KeyPair {
  return scheme.keyPairFromSeed(new Uint8Array(scheme.seedBytes).fill(replica + 1));
}

/** The context anyone checking evidence needs: the public keys and the cluster id. */
export function contextFor(scheme: SignatureScheme, replicaCount: number): EvidenceContext {
  return {
    scheme,
    publicKeys: Array.from({ length: replicaCount }, (_, replica) => keyPairOf(scheme, replica).publicKey),
    clusterId: CLUSTER_ID,
  };
}

/** Signs `draft` as `replica` for real (nested unsigned PRE-PREPAREs of a NEW-VIEW included). */
export function signReally<M extends Message>(
  draft: Draft<M>,
  replica: number,
  scheme: SignatureScheme = insecureSimulationScheme,
): M {
  return signDraft(
    { scheme, privateKey: keyPairOf(scheme, replica).privateKey, clusterId: CLUSTER_ID },
    draft,
  ) as M;
}

/** The cluster harness's marker signature (see `test/support/cluster.ts`). */
function isHarnessMarker(signature: Uint8Array): boolean {
  return signature.length === 3 && signature[0] === 0xa0;
}

/** A ban as one honest replica's detector decided it. */
export interface Ban {
  readonly by: number;
  readonly replica: number;
}

export class DetectingCluster extends TestCluster {
  readonly byzantine: ReadonlySet<number>;
  /** One detector per honest replica; null for the scripted Byzantine ones. */
  readonly detectors: (ByzantineDetector | null)[];
  readonly context: EvidenceContext;
  readonly bans: Ban[] = [];
  /** Messages each honest replica's shell dropped because their sender was banned. */
  readonly droppedFromBanned: number[];

  constructor(
    n: number,
    byzantine: readonly number[],
    options: Partial<Omit<ReplicaOptions, 'self' | 'replicaCount'>> = {},
    detectorOptions: Partial<Omit<DetectorOptions, 'self' | 'replicaCount'>> = {},
  ) {
    super(n, { clusterId: CLUSTER_ID, ...options });
    this.byzantine = new Set(byzantine);
    this.context = contextFor(insecureSimulationScheme, n);
    this.detectors = Array.from({ length: n }, (_, self) =>
      this.byzantine.has(self)
        ? null
        : new ByzantineDetector({
            replicaCount: n,
            self,
            verification: this.context,
            ...detectorOptions,
          }),
    );
    this.droppedFromBanned = Array.from({ length: n }, () => 0);
    // Byzantine replicas are scripted: their cores never run and nothing reaches them.
    for (const replica of byzantine) this.crash(replica);
  }

  /** The detector of honest replica `replica`. */
  detector(replica: number): ByzantineDetector {
    const detector = this.detectors[replica];
    if (detector === null || detector === undefined) throw new Error(`replica ${replica} has no detector`);
    return detector;
  }

  /** Sends `message` from scripted replica `from` to `to` (or every honest replica). */
  inject(from: number, message: Message, to: number | 'all' = 'all'): void {
    const targets = to === 'all' ? [...Array(this.n).keys()].filter((r) => !this.byzantine.has(r)) : [to];
    for (const target of targets) this.inbox.push({ from, to: target, message });
  }

  override input(replica: number, input: Input): Ready | null {
    const detector = this.detectors[replica];
    if (detector === null || detector === undefined || !this.up[replica]) return super.input(replica, input);
    if (input.kind === 'message') {
      if (detector.isBanned(input.from)) {
        this.droppedFromBanned[replica]!++;
        return null;
      }
      if (!this.#verified(input.message)) {
        const wasBanned = detector.isBanned(input.from);
        detector.detectInvalidSignature(input.from, input.message);
        if (!wasBanned && detector.isBanned(input.from)) this.#banned(replica, [input.from]);
        return null;
      }
    }
    const ready = super.input(replica, input);
    if (ready === null) return null;
    const banned = detector.recordStep(input, ready);
    if (input.kind === 'tick') banned.push(...detector.tick());
    this.#banned(replica, banned);
    return ready;
  }

  #verified(message: Message): boolean {
    if (isSignedKind(message) && isHarnessMarker(message.signature)) return true;
    return verifyMessage(this.context.scheme, this.context.publicKeys, CLUSTER_ID, message);
  }

  #banned(by: number, replicas: readonly number[]): void {
    for (const replica of replicas) {
      this.bans.push({ by, replica });
      this.input(by, { kind: 'banned', replica });
    }
  }
}
