/**
 * Reconfiguration in the simulator (`--reconfigure`): requests in a format of the simulator's
 * own, read by the shipped engine through an `EngineReconfiguration` like the node's, and the
 * directory of epochs the run's checkers hold votes against.
 *
 * A request names the epoch it changes and the next epoch's members in leader order, each as
 * `<replica>#<key generation>`: `1#0,2#1,3#0,0#0` moves 0 to the end (every id changes) and gives
 * replica 2 its next key. Operator signatures are the node's reader's business
 * (`src/reconfig/reader.ts`, tested there); here every well-formed request that changes the
 * epoch it is ordered in takes effect, and stale and replayed ones are skipped by the core.
 */
import { insecureSimulationScheme, type KeyPair, type PublicKey } from '../crypto/index.ts';
import type { EngineReconfiguration, EpochMembers } from '../engine/index.ts';
import type { EpochRecord, NextEpoch } from '../protocol/index.ts';

const MAGIC = 'cretoai-sim-reconfiguration/v1\n';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One validator of an epoch: the simulated replica and the generation of its key. */
export interface SimMember {
  readonly replica: number;
  readonly generation: number;
}

/** A request's content. */
export interface SimRequest {
  readonly from: number;
  readonly members: readonly SimMember[];
}

/** The vertex payload of `request`; `label` tells copies of one request apart (a replay). */
export function simRequestPayload(request: SimRequest, label = ''): Uint8Array {
  const members = request.members.map((member) => `${member.replica}#${member.generation}`).join(',');
  return encoder.encode(`${MAGIC}${request.from}\n${members}\n${label}`);
}

/** The request a payload carries, or null when it is none. */
export function parseSimRequest(payload: Uint8Array): SimRequest | null {
  const text = decoder.decode(payload);
  if (!text.startsWith(MAGIC)) return null;
  const [from, members] = text.slice(MAGIC.length).split('\n');
  if (from === undefined || members === undefined) return null;
  const parsed = members.split(',').map((member) => {
    const [replica, generation] = member.split('#').map(Number);
    return { replica: replica!, generation: generation! };
  });
  if (parsed.some((member) => !Number.isInteger(member.replica) || !Number.isInteger(member.generation)))
    return null;
  return { from: Number(from), members: parsed };
}

/** The key pair of simulated replica `replica` in key generation `generation` (0: its first). */
export function simulationKeyPair(replica: number, generation: number): KeyPair {
  const seed = new Uint8Array(32);
  const view = new DataView(seed.buffer);
  view.setUint32(0, replica);
  view.setUint32(4, generation);
  return insecureSimulationScheme.keyPairFromSeed(seed);
}

/** How many key generations a replica may go through in a run (each is given to it in advance). */
export const KEY_GENERATIONS = 8;

/** The node id of simulated replica `replica`. */
export const nodeIdOf = (replica: number): string => String(replica);

/**
 * What every simulated replica's engine is given: the reader of simulator requests, the
 * members of each epoch, and every key generation of `replica`, as an operator would hand a
 * node its next key before the rotation is requested.
 */
export function simReconfiguration(replica: number, options: NextEpoch['options']): EngineReconfiguration {
  const keyPairs = Array.from({ length: KEY_GENERATIONS - 1 }, (_, generation) =>
    simulationKeyPair(replica, generation + 1),
  );
  return {
    reader: (payload, current) => {
      const request = parseSimRequest(payload);
      if (request === null || request.from !== current.number) return null;
      return { nodes: request.members.map((member) => nodeIdOf(member.replica)), options };
    },
    membersOf: (record) => membersOfRecord(record),
    keyPairs,
  };
}

function membersOfRecord(record: EpochRecord): EpochMembers | null {
  const request = parseSimRequest(record.opening);
  if (request === null) return null;
  return {
    nodes: request.members.map((member) => nodeIdOf(member.replica)),
    publicKeys: request.members.map(
      (member) => simulationKeyPair(member.replica, member.generation).publicKey.raw,
    ),
  };
}

/** One epoch as the checkers know it. */
export interface SimEpoch {
  readonly number: number;
  readonly members: readonly SimMember[];
  /** Public keys by replica id in the epoch. */
  readonly keys: readonly PublicKey[];
}

/**
 * The epochs of a run, learned from the history the honest replicas write: one history only
 * (an epoch opened by two different requests is a violation), and the members and keys against
 * which each vote is checked.
 */
export class EpochDirectory {
  readonly #epochs: SimEpoch[] = [];
  readonly #openings: string[] = [];
  readonly #violate: (message: string) => void;
  readonly #listeners: ((number: number, opening: Uint8Array) => void)[] = [];

  constructor(replicaCount: number, violate: (message: string) => void) {
    const members = Array.from({ length: replicaCount }, (_, replica) => ({ replica, generation: 0 }));
    this.#epochs.push(epochOf(0, members));
    this.#openings.push('');
    this.#violate = violate;
  }

  /** The highest epoch any honest replica has opened. */
  get latest(): SimEpoch {
    return this.#epochs.at(-1)!;
  }

  epoch(number: number): SimEpoch | undefined {
    return this.#epochs[number];
  }

  /** Replica `replica` wrote `record` to its history. */
  learn(replica: number, record: EpochRecord): void {
    if (record.number === 0) return;
    const opening = decoder.decode(record.opening);
    const known = this.#openings[record.number];
    if (known !== undefined) {
      if (known !== opening)
        this.#violate(
          `epochs: replica ${replica} opened epoch ${record.number} with another request than its peers`,
        );
      return;
    }
    if (record.number !== this.#epochs.length) {
      this.#violate(
        `epochs: replica ${replica} opened epoch ${record.number} before epoch ${this.#epochs.length}`,
      );
      return;
    }
    const request = parseSimRequest(record.opening);
    if (request === null) {
      this.#violate(
        `epochs: replica ${replica} opened epoch ${record.number} with a vertex that is no request`,
      );
      return;
    }
    this.#epochs.push(epochOf(record.number, request.members));
    this.#openings.push(opening);
    for (const listener of this.#listeners) listener(record.number, record.opening);
  }

  /** Told of each epoch as it is first learned, with the request that opened it. */
  onOpened(listener: (number: number, opening: Uint8Array) => void): void {
    this.#listeners.push(listener);
  }

  /** The simulated replica that has id `id` in `epoch`, or undefined. */
  replicaOf(epoch: number, id: number): number | undefined {
    return this.#epochs[epoch]?.members[id]?.replica;
  }

  /** Whether simulated replica `replica` is a validator of `epoch`. */
  isMember(epoch: number, replica: number): boolean {
    return this.#epochs[epoch]?.members.some((member) => member.replica === replica) ?? false;
  }
}

function epochOf(number: number, members: readonly SimMember[]): SimEpoch {
  return {
    number,
    members,
    keys: members.map((member) => simulationKeyPair(member.replica, member.generation).publicKey),
  };
}
