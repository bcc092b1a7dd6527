/**
 * What a node gives its engine so that it follows reconfigurations: the reader of requests
 * (`reader.ts`), the members of each epoch as the request that opened it names them, and the
 * node's keys for later epochs (a rotation). The members are kept in the cluster file's shape
 * too, with their addresses, for the transport (`epochMembers`).
 */
import type { ClusterFile } from '../client/cluster-file.ts';
import type { KeyPair } from '../crypto/index.ts';
import type { EngineReconfiguration } from '../engine/index.ts';
import type { EpochRecord } from '../protocol/index.ts';
import { ReconfigurationError } from './errors.ts';
import { createRequestReader, parseRequestPayload } from './reader.ts';

/** An engine's reconfiguration, and the members of every epoch it has been asked about. */
export interface NodeReconfiguration extends EngineReconfiguration {
  /** The members of `epoch` (0: the cluster file's), once the engine learned them. */
  epochMembers(epoch: number): ClusterFile | undefined;
}

/**
 * The reconfiguration of a node of `cluster` that holds `keyPairs` besides its cluster-file key
 * (keys an operator gave it for a rotation to come); `joining`, for a node that joins the
 * validators at a later epoch (node config `chain`).
 */
export function engineReconfiguration(
  cluster: ClusterFile,
  keyPairs: readonly KeyPair[] = [],
  joining?: EngineReconfiguration['joining'],
): NodeReconfiguration {
  const members = new Map<number, ClusterFile>([[0, cluster]]);
  return {
    ...(joining === undefined ? {} : { joining }),
    reader: createRequestReader(cluster),
    membersOf: (record: EpochRecord) => {
      let next: ClusterFile;
      try {
        next = parseRequestPayload(record.opening).next;
      } catch (error) {
        if (error instanceof ReconfigurationError) return null;
        throw error;
      }
      members.set(record.number, next);
      return {
        nodes: next.validators.map((validator) => validator.nodeId),
        publicKeys: next.validators.map((validator) => validator.publicKey.raw),
      };
    },
    keyPairs,
    epochMembers: (epoch) => members.get(epoch),
  };
}
