/**
 * The changes a reconfiguration request can make, and the epoch they lead to. Applying the same
 * operations to the same epoch gives the same next epoch at every replica and in every tool:
 * the result goes through the cluster file's own checks (one id, key and address per validator,
 * operator keys apart from validator keys, consensus figures the engine accepts), plus the rule
 * that an epoch has at least {@link VALIDATORS_MIN} validators.
 */
import {
  type ClusterFile,
  ClusterFileError,
  checkClusterFile,
  type OperatorSet,
  type ValidatorEntry,
  writtenOperators,
  writtenValidator,
} from '../client/cluster-file.ts';
import { exportPublicKeyPem, mlDsa87, type PublicKey } from '../crypto/index.ts';
import { type BftConfig, ConfigError, resolveBftConfig } from '../engine/index.ts';
import { ReconfigurationError } from './errors.ts';

/**
 * The fewest validators an epoch may have: with n = 4, f = 1, so one faulty validator is
 * tolerated. A change to fewer would leave a cluster that one crash stops.
 */
export const VALIDATORS_MIN = 4;

/** One change to the validator set, its figures or its operators. */
export type Operation =
  /** A new validator, last in leader order. */
  | { readonly op: 'add'; readonly validator: ValidatorEntry }
  /** A validator leaves (the leader too). */
  | { readonly op: 'remove'; readonly nodeId: string }
  /** A validator's place goes to another machine: new key, same or new id and address. */
  | { readonly op: 'replace'; readonly nodeId: string; readonly validator: ValidatorEntry }
  /** A validator keeps its id and address under a new key. */
  | { readonly op: 'rotate-key'; readonly nodeId: string; readonly publicKey: PublicKey }
  /** The named consensus figures take these values; the others keep theirs. */
  | { readonly op: 'set-figures'; readonly consensus: Readonly<Record<string, unknown>> }
  /** A new operator set for the epochs after this one. */
  | { readonly op: 'set-operators'; readonly operators: OperatorSet };

/**
 * The members of the epoch after `current` once `operations` are applied in order.
 *
 * @throws ReconfigurationError `malformed` naming the operation or the field at fault.
 */
export function applyOperations(current: ClusterFile, operations: readonly Operation[]): ClusterFile {
  if (operations.length === 0)
    throw new ReconfigurationError('malformed', 'a request needs at least one operation');
  const validators = current.validators.map(writtenValidator);
  let consensus: Record<string, unknown> = { ...current.consensus };
  let operators = current.operators === undefined ? undefined : writtenOperators(current.operators);
  const placeOf = (nodeId: string, i: number): number => {
    const at = validators.findIndex((validator) => validator.nodeId === nodeId);
    if (at < 0) {
      throw new ReconfigurationError(
        'malformed',
        `operations[${i}] (${operations[i]!.op}): there is no validator ${nodeId} at that point`,
      );
    }
    return at;
  };
  for (const [i, operation] of operations.entries()) {
    switch (operation.op) {
      case 'add':
        validators.push(writtenValidator(operation.validator));
        break;
      case 'remove':
        validators.splice(placeOf(operation.nodeId, i), 1);
        break;
      case 'replace':
        validators[placeOf(operation.nodeId, i)] = writtenValidator(operation.validator);
        break;
      case 'rotate-key': {
        const at = placeOf(operation.nodeId, i);
        validators[at] = { ...validators[at], publicKey: exportPublicKeyPem(operation.publicKey) };
        break;
      }
      case 'set-figures':
        consensus = { ...consensus, ...operation.consensus };
        break;
      case 'set-operators':
        operators = writtenOperators(operation.operators);
        break;
    }
  }
  const next = checkMembers(
    {
      clusterId: current.clusterId,
      validators,
      ...(Object.keys(consensus).length === 0 ? {} : { consensus }),
      ...(operators === undefined ? {} : { operators }),
    },
    'the next epoch',
  );
  return next;
}

/**
 * Checks the members of a proposed epoch, written as a cluster file is; `what` names them in
 * errors (`the next epoch`).
 *
 * @throws ReconfigurationError `malformed` naming the field at fault.
 */
export function checkMembers(json: Record<string, unknown>, what: string): ClusterFile {
  let members: ClusterFile;
  try {
    members = checkClusterFile(json, what);
  } catch (error) {
    if (!(error instanceof ClusterFileError)) throw error;
    const field = error.field === '' ? '' : `.${error.field}`;
    throw new ReconfigurationError('malformed', `${what}${field}: ${error.detail}`, { cause: error });
  }
  // The figures must pass the engine's own checks, which every member runs when it starts the epoch.
  const ids = members.validators.map((validator) => validator.nodeId);
  try {
    resolveBftConfig(
      {
        ...(members.consensus as Partial<BftConfig>),
        nodeId: ids[0]!,
        validators: ids,
        clusterId: members.clusterId,
      },
      mlDsa87.signatureBytes,
    );
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ReconfigurationError('malformed', `${what}.consensus.${error.message}`, { cause: error });
  }
  if (members.validators.length < VALIDATORS_MIN) {
    throw new ReconfigurationError(
      'malformed',
      `${what} has ${members.validators.length} validators; an epoch needs at least ${VALIDATORS_MIN} (f >= 1)`,
    );
  }
  return members;
}
