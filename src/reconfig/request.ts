/**
 * Reconfiguration requests: the operations that change one epoch, the next epoch in full, and
 * the operator signatures that authorise them.
 *
 * The signatures cover the request's canonical bytes: a JSON text the code builds field by field
 * in a fixed order, with every key as raw hex and consensus figures sorted by name, so that two
 * spellings of one request (PEM or hex keys, fields in another order, other white space) sign the
 * same bytes. They are ML-DSA-87 signatures under a context of their own,
 * {@link RECONFIGURATION_CONTEXT}, so that no consensus vote can pass as an operator's
 * signature and no request as a vote.
 */
import type { ClusterFile, OperatorSet, ValidatorEntry } from '../client/cluster-file.ts';
import { bytesEqual, mlDsa87, type PrivateKey, type PublicKey, toHex } from '../crypto/index.ts';
import { type Epoch, epochZero } from './epoch.ts';
import { ReconfigurationError } from './errors.ts';
import { applyOperations, type Operation } from './operations.ts';

/** The signing context of operator signatures (FIPS 204), apart from the consensus one. */
export const RECONFIGURATION_CONTEXT = new TextEncoder().encode('cretoai-reconfiguration/v1');

/** One operator's signature: the index of its key in the operators of the epoch changed. */
export interface OperatorSignature {
  readonly operator: number;
  readonly signature: Uint8Array;
}

/** A request to change epoch `from` of cluster `clusterId` into `next`. */
export interface ReconfigurationRequest {
  readonly clusterId: string;
  /** The number of the epoch this request changes. */
  readonly from: number;
  readonly operations: readonly Operation[];
  /** The members of epoch `from + 1`: `operations` applied to epoch `from`. */
  readonly next: ClusterFile;
  readonly signatures: readonly OperatorSignature[];
}

/** An unsigned request applying `operations` to `epoch`; throws `malformed` as `applyOperations`. */
export function proposeRequest(epoch: Epoch, operations: readonly Operation[]): ReconfigurationRequest {
  return Object.freeze({
    clusterId: epoch.members.clusterId,
    from: epoch.number,
    operations: Object.freeze([...operations]),
    next: applyOperations(epoch.members, operations),
    signatures: Object.freeze([]),
  });
}

/** Consensus figures with their names sorted, for canonical bytes. */
function sortedFigures(figures: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(
    Object.keys(figures)
      .sort()
      .map((name) => [name, figures[name]]),
  );
}

function canonicalValidator(validator: ValidatorEntry): unknown {
  return [validator.nodeId, toHex(validator.publicKey.raw), validator.address ?? null, validator.api ?? null];
}

function canonicalOperators(operators: OperatorSet | undefined): unknown {
  return operators === undefined ? null : [operators.keys.map((key) => toHex(key.raw)), operators.threshold];
}

function canonicalOperation(operation: Operation): unknown {
  switch (operation.op) {
    case 'add':
      return [operation.op, canonicalValidator(operation.validator)];
    case 'remove':
      return [operation.op, operation.nodeId];
    case 'replace':
      return [operation.op, operation.nodeId, canonicalValidator(operation.validator)];
    case 'rotate-key':
      return [operation.op, operation.nodeId, toHex(operation.publicKey.raw)];
    case 'set-figures':
      return [operation.op, sortedFigures(operation.consensus)];
    case 'set-operators':
      return [operation.op, canonicalOperators(operation.operators)];
  }
}

/** The bytes operators sign: everything in the request but the signatures. */
export function requestSignBytes(request: ReconfigurationRequest): Uint8Array {
  const canonical = [
    'cretoai-reconfiguration/v1',
    request.clusterId,
    request.from,
    request.operations.map(canonicalOperation),
    [
      request.next.validators.map(canonicalValidator),
      sortedFigures(request.next.consensus),
      canonicalOperators(request.next.operators),
    ],
  ];
  return new TextEncoder().encode(JSON.stringify(canonical));
}

/** The index of `publicKey` among the operators of `epoch`, or -1. */
function operatorIndex(epoch: Epoch, publicKey: PublicKey): number {
  const hex = toHex(publicKey.raw);
  return epoch.members.operators?.keys.findIndex((key) => toHex(key.raw) === hex) ?? -1;
}

/**
 * `request` with the signature of the operator holding `keys` added (or replacing that
 * operator's earlier one).
 *
 * @throws ReconfigurationError `stale-epoch` when the request does not change `epoch`, and
 *   `signatures` when the key is not one of the epoch's operators.
 */
export function signRequest(
  request: ReconfigurationRequest,
  epoch: Epoch,
  keys: { readonly publicKey: PublicKey; readonly privateKey: PrivateKey },
): ReconfigurationRequest {
  checkTarget(request, epoch);
  const operator = operatorIndex(epoch, keys.publicKey);
  if (operator < 0) {
    throw new ReconfigurationError(
      'signatures',
      `this key is not one of the operator keys of epoch ${epoch.number}: it cannot sign a change`,
    );
  }
  const signature = mlDsa87.sign(keys.privateKey, requestSignBytes(request), RECONFIGURATION_CONTEXT);
  const signatures = [
    ...request.signatures.filter((entry) => entry.operator !== operator),
    { operator, signature },
  ];
  signatures.sort((a, b) => a.operator - b.operator);
  return Object.freeze({ ...request, signatures: Object.freeze(signatures) });
}

/** Throws unless `request` is for `epoch`'s cluster and changes `epoch` itself. */
function checkTarget(request: ReconfigurationRequest, epoch: Epoch): void {
  if (request.clusterId !== epoch.members.clusterId) {
    throw new ReconfigurationError(
      'malformed',
      `the request is for cluster ${JSON.stringify(request.clusterId)}; this is ${JSON.stringify(epoch.members.clusterId)}`,
    );
  }
  if (request.from !== epoch.number) {
    throw new ReconfigurationError(
      'stale-epoch',
      `the request changes epoch ${request.from}, but the current epoch is ${epoch.number}`,
    );
  }
}

/** What a request that passed {@link checkRequest} does. */
export interface CheckedRequest {
  /** The members of the next epoch. */
  readonly next: ClusterFile;
  /** The operators whose signatures verified, by index, ascending. */
  readonly signers: readonly number[];
  readonly threshold: number;
}

/**
 * Whether `request` takes effect on `epoch`: the same cluster, `from` the epoch's number, `next`
 * exactly the operations applied to it, and at least the epoch's threshold of distinct operator
 * signatures, every one of which verifies.
 *
 * @throws ReconfigurationError with the code of the first rule broken.
 */
export function checkRequest(request: ReconfigurationRequest, epoch: Epoch): CheckedRequest {
  checkTarget(request, epoch);
  const operators = epoch.members.operators;
  if (operators === undefined) {
    throw new ReconfigurationError(
      'threshold',
      `epoch ${epoch.number} names no operators (the cluster file's "operators"): nobody can change its validators`,
    );
  }
  const derived = applyOperations(epoch.members, request.operations);
  const bytes = requestSignBytes(request);
  const expected = requestSignBytes({ ...request, next: derived });
  if (!bytesEqual(bytes, expected)) {
    throw new ReconfigurationError(
      'malformed',
      `"next" is not what the operations make of epoch ${epoch.number}: build the request again`,
    );
  }
  const signers = new Set<number>();
  for (const [i, { operator, signature }] of request.signatures.entries()) {
    const key = operators.keys[operator];
    if (!Number.isSafeInteger(operator) || key === undefined) {
      throw new ReconfigurationError(
        'signatures',
        `signatures[${i}] names operator ${operator}; epoch ${epoch.number} has operators 0 to ${operators.keys.length - 1}`,
      );
    }
    if (!mlDsa87.verify(key, bytes, signature, RECONFIGURATION_CONTEXT)) {
      throw new ReconfigurationError(
        'signatures',
        `signatures[${i}] (operator ${operator}) does not verify: the request changed after it was signed, or the key is another`,
      );
    }
    signers.add(operator);
  }
  if (signers.size < operators.threshold) {
    throw new ReconfigurationError(
      'threshold',
      `${signers.size} of the ${operators.threshold} operator signatures epoch ${epoch.number} needs`,
    );
  }
  return Object.freeze({
    next: derived,
    signers: Object.freeze([...signers].sort((a, b) => a - b)),
    threshold: operators.threshold,
  });
}

/**
 * The epoch a chain of requests leads to from `cluster`'s epoch 0: each must take effect on the
 * epoch before it ({@link checkRequest}, operator signatures included), so the result is trusted
 * as far as the cluster file is.
 *
 * @throws ReconfigurationError for the first request that does not follow, naming its place.
 */
export function followChain(cluster: ClusterFile, chain: readonly ReconfigurationRequest[]): Epoch {
  let epoch = epochZero(cluster);
  for (const [i, request] of chain.entries()) {
    try {
      checkRequest(request, epoch);
    } catch (error) {
      if (!(error instanceof ReconfigurationError)) throw error;
      throw new ReconfigurationError(error.code, `request ${i + 1} of the chain: ${error.message}`, {
        cause: error,
      });
    }
    epoch = Object.freeze({ number: request.from + 1, members: request.next });
  }
  return epoch;
}
