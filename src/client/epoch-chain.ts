/**
 * The chain of epochs as a client follows it (docs/reconfiguration.md, "Clients"). A client trusts
 * the cluster file, epoch 0. The request that opened epoch e + 1 is a vertex final in epoch e,
 * so its proof is checked with epoch e's keys, which the client already trusts; the request
 * itself names epoch e + 1 in full, with the operator signatures epoch e requires. Each link
 * checked this way makes the next epoch's keys as trustworthy as the cluster file, and a
 * certificate is then checked with the keys of the epoch its COMMITs name.
 *
 * What a client cannot check: that the request was the first of its epoch to be ordered (the
 * replicas take the first one and skip later ones). Operators who sign two requests from one
 * epoch leave a client that is shown the skipped one with a set that never served; the chain
 * refuses a second, different link for an epoch it already has, so two nodes that disagree are
 * caught (docs/reconfiguration.md).
 */
import { bytesEqual, toHex } from '../crypto/index.ts';
import { createVertex } from '../protocol/index.ts';
import type { Epoch } from '../reconfig/epoch.ts';
import { ReconfigurationError } from '../reconfig/errors.ts';
import { parseRequestPayload } from '../reconfig/reader.ts';
import { checkRequest } from '../reconfig/request.ts';
import { bytesFromBase64, digestFromHex, type EpochEntry, type EpochsResponse } from './api.ts';
import type { ClusterFile } from './cluster-file.ts';
import { BftClientError } from './errors.ts';
import { type ClusterKeys, clusterKeysOf, verifyFinalVertex } from './proof.ts';

interface KnownEpoch {
  readonly epoch: Epoch;
  readonly keys: ClusterKeys;
  /** The payload of the request that opened it (empty for epoch 0). */
  readonly opening: Uint8Array;
}

function refuse(detail: string): never {
  throw new BftClientError('invalid-certificate', `the chain of epochs does not check out: ${detail}`);
}

/** The keys of the validators of `members`, for the epoch `number` opened at `openedAt`. */
export function epochKeysOf(members: ClusterFile, number: number, openedAt?: number): ClusterKeys {
  return { ...clusterKeysOf(members), epoch: number, ...(openedAt === undefined ? {} : { openedAt }) };
}

/**
 * The epochs a client has checked its way to from the cluster file, with each one's keys.
 * `BftClient` keeps one when built from the cluster file; `follow` extends it with a node's
 * `GET /v1/epochs` answer.
 */
export class EpochChain {
  readonly #epochs: KnownEpoch[];

  constructor(cluster: ClusterFile) {
    this.#epochs = [
      { epoch: { number: 0, members: cluster }, keys: epochKeysOf(cluster, 0), opening: new Uint8Array(0) },
    ];
  }

  /** The newest epoch the client has checked its way to. */
  get latest(): number {
    return this.#epochs.length - 1;
  }

  /** The keys of `epoch`, once the chain reaches it. */
  keysOf(epoch: number): ClusterKeys | undefined {
    return this.#epochs[epoch]?.keys;
  }

  /** The members of `epoch` (validators, figures, operators), once the chain reaches it. */
  membersOf(epoch: number): ClusterFile | undefined {
    return this.#epochs[epoch]?.epoch.members;
  }

  /**
   * Checks the links of a node's `GET /v1/epochs` answer and extends the chain with them, as far
   * as they go (a link the node no longer holds the proof of ends it there).
   *
   * @throws BftClientError 'invalid-certificate' naming the first link that does not check out,
   *   or one that differs from a link the chain already has.
   */
  follow(response: EpochsResponse): void {
    const known = this.#epochs[0]!.keys.clusterId;
    if (response?.clusterId !== known) refuse(`it is for cluster "${String(response?.clusterId)}"`);
    if (!Array.isArray(response.epochs)) refuse('epochs is not a list');
    for (const entry of response.epochs) {
      if (!Number.isSafeInteger(entry?.epoch) || entry.epoch < 1) continue;
      if (entry.epoch > this.latest + 1) break;
      const opening = this.#openingOf(entry);
      if (opening === null) break;
      const have = this.#epochs[entry.epoch];
      if (have !== undefined) {
        if (!bytesEqual(have.opening, opening.payload))
          refuse(`two different requests opened epoch ${entry.epoch} (this node's and another's)`);
        continue;
      }
      this.#epochs.push(this.#link(entry, opening));
    }
  }

  #openingOf(
    entry: EpochEntry,
  ): { payload: Uint8Array; hash: string; vertex: ReturnType<typeof createVertex> } | null {
    const opening = entry.opening;
    if (opening === null || opening === undefined || entry.proof === null || entry.proof === undefined)
      return null;
    const payload = bytesFromBase64(opening.payload);
    if (payload === null) refuse(`epoch ${entry.epoch}'s request is not base64`);
    const parents = Array.isArray(opening.parents) ? opening.parents.map(digestFromHex) : [null];
    if (parents.some((parent) => parent === null)) refuse(`epoch ${entry.epoch}'s request has a bad parent`);
    let vertex: ReturnType<typeof createVertex>;
    try {
      vertex = createVertex(payload, {
        validThrough: opening.validThrough,
        parents: parents as Uint8Array[],
      });
    } catch {
      return refuse(`epoch ${entry.epoch}'s request is no vertex`);
    }
    return { payload, hash: toHex(vertex.hash), vertex };
  }

  /** Epoch `entry.epoch`, from the link that opened it: final in the epoch before, signed by its operators. */
  #link(entry: EpochEntry, opening: { payload: Uint8Array; hash: string }): KnownEpoch {
    const previous = this.#epochs[entry.epoch - 1]!;
    const place = verifyFinalVertex(opening.hash, entry.proof!, previous.keys);
    let next: ClusterFile;
    try {
      next = checkRequest(parseRequestPayload(opening.payload), previous.epoch).next;
    } catch (error) {
      if (!(error instanceof ReconfigurationError)) throw error;
      return refuse(`epoch ${entry.epoch}'s request: ${error.message}`);
    }
    return {
      epoch: { number: entry.epoch, members: next },
      keys: epochKeysOf(next, entry.epoch, place.sequence),
      opening: opening.payload,
    };
  }
}
