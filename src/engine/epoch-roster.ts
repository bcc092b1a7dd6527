/**
 * The validators of every epoch this replica knows, as the engine addresses them: node ids by
 * replica id (a replica's id is its index in its epoch's list, docs/reconfiguration.md), their
 * public keys, and the key pair this node signs with in each.
 *
 * The core names peers by replica id and messages name their epoch; the transport names peers by
 * node id. Every translation between the two goes through the roster of the epoch it concerns:
 * a signature is checked with the keys of the message's epoch, a frame's sender is numbered in
 * the replica's current epoch, and a draft is signed with this node's key of the draft's epoch
 * (after a key rotation, the previous epoch's messages still need the old one).
 */
import { bytesEqual } from '../crypto/digest.ts';
import type { KeyPair, PublicKey, SignatureScheme } from '../crypto/index.ts';
import type { EpochRecord, ReplicaId, RequestReader } from '../protocol/index.ts';
import type { NodeId } from '../transport/transport.ts';

/** The validators of one epoch, as a reconfiguration request names them. */
export interface EpochMembers {
  /** Node ids in leader order: a validator's replica id in the epoch is its index here. */
  readonly nodes: readonly NodeId[];
  /** Their raw public keys, in the same order. */
  readonly publicKeys: readonly Uint8Array[];
}

/**
 * How an engine follows reconfigurations (`EngineDependencies.reconfiguration`); without it the
 * replica stays in epoch 0, the configuration's validators. `src/reconfig` builds one from the
 * cluster file (`engineReconfiguration`).
 */
export interface EngineReconfiguration {
  /** Tells the core which delivered vertices change the epoch (see `RequestReader`). */
  readonly reader: RequestReader;
  /**
   * The validators of the epoch `record` opened (its number is 1 or more), read from the request
   * that opened it; null if that request cannot be read, which never happens for one the
   * reader accepted.
   */
  readonly membersOf: (record: EpochRecord) => EpochMembers | null;
  /**
   * Key pairs this node may be named with in later epochs (a rotated key), besides the one the
   * engine is constructed with. In each epoch it signs with the pair whose public key the epoch
   * lists for it.
   */
  readonly keyPairs?: readonly KeyPair[];
  /**
   * For a node that joins the validators at a later epoch without having been one of the epoch
   * before (a new machine, or a replacement with an empty store): that epoch's number and the
   * request that opens it, the last of the chain its operator was given. The replica walks the
   * history up to it as a learner (`src/protocol/learner.ts`), asking under its key of that epoch.
   */
  readonly joining?: { readonly epoch: number; readonly opening: Uint8Array };
}

/** One epoch's validators. */
export interface Roster {
  readonly epoch: number;
  readonly nodes: readonly NodeId[];
  /** Public keys by replica id; a missing one drops that validator's messages as unknown. */
  readonly keys: (PublicKey | undefined)[];
  readonly replicaOf: ReadonlyMap<NodeId, ReplicaId>;
}

export class EpochRosters {
  readonly #scheme: SignatureScheme;
  readonly #source: EngineReconfiguration | null;
  readonly #keyPairs: readonly KeyPair[];
  readonly #rosters = new Map<number, Roster>();
  /** The records last learned from, so that an unchanged history costs nothing. */
  #learned: readonly EpochRecord[] | null = null;

  constructor(
    scheme: SignatureScheme,
    zero: { readonly nodes: readonly NodeId[]; readonly self: ReplicaId; readonly keyPair: KeyPair },
    source: EngineReconfiguration | null,
  ) {
    this.#scheme = scheme;
    this.#source = source;
    this.#keyPairs = [zero.keyPair, ...(source?.keyPairs ?? [])];
    const keys = new Array<PublicKey | undefined>(zero.nodes.length).fill(undefined);
    if (zero.self >= 0) keys[zero.self] = zero.keyPair.publicKey;
    this.#rosters.set(0, roster(0, zero.nodes, keys));
    const joining = source?.joining;
    if (joining !== undefined) {
      // Known before the history reaches it: a learner signs its requests in this epoch.
      const record: EpochRecord = {
        number: joining.epoch,
        start: 0,
        end: null,
        closedAt: null,
        opening: joining.opening,
      };
      this.#learnRecord(record);
    }
  }

  /** The most validators any epoch this replica knows has: ids and certificates go up to it. */
  largestEpoch(): number {
    let largest = 0;
    for (const roster of this.#rosters.values()) largest = Math.max(largest, roster.nodes.length);
    return largest;
  }

  /** The validators of `epoch`, if this replica knows them. */
  of(epoch: number): Roster | undefined {
    return this.#rosters.get(epoch);
  }

  /**
   * Learns the validators of every epoch in the replica's history (`ReplicaState.epochs`),
   * including the one a closing epoch opens, so that its messages can be checked as soon as
   * the switch happens.
   *
   * @throws Error when a request the core accepted names keys this engine's scheme cannot read.
   */
  learn(records: readonly EpochRecord[]): void {
    if (records === this.#learned || this.#source === null) return;
    for (const record of records) this.#learnRecord(record);
    this.#learned = records;
  }

  #learnRecord(record: EpochRecord): void {
    if (this.#source === null || record.number === 0 || this.#rosters.has(record.number)) return;
    const members = this.#source.membersOf(record);
    if (members === null) return;
    const keys = members.publicKeys.map((raw) => this.#scheme.importPublicKey(raw));
    this.#rosters.set(record.number, roster(record.number, members.nodes, keys));
  }

  /**
   * The key pair this node signs with in `epoch`: the one whose public key the epoch lists for
   * replica `self`; null when it holds none (its key was rotated to one it was not given).
   */
  keyPairFor(epoch: number, self: ReplicaId): KeyPair | null {
    const listed = this.#rosters.get(epoch)?.keys[self];
    if (listed === undefined) return null;
    if (epoch === 0 && this.#source === null) return this.#keyPairs[0]!;
    const raw = listed.raw;
    return this.#keyPairs.find((pair) => bytesEqual(pair.publicKey.raw, raw)) ?? null;
  }
}

function roster(epoch: number, nodes: readonly NodeId[], keys: (PublicKey | undefined)[]): Roster {
  return { epoch, nodes, keys, replicaOf: new Map(nodes.map((node, index) => [node, index])) };
}
