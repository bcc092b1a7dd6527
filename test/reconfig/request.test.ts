/**
 * Reconfiguration requests: who may sign them, what they may propose, and that a request is
 * checked the same however its file spells it (docs/reconfiguration.md).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterFile } from '../../src/client/cluster-file.ts';
import { type KeyPair, mlDsa87, toHex } from '../../src/crypto/index.ts';
import { epochZero } from '../../src/reconfig/epoch.ts';
import { ReconfigurationError, type ReconfigurationErrorCode } from '../../src/reconfig/errors.ts';
import type { Operation } from '../../src/reconfig/operations.ts';
import {
  checkRequest,
  proposeRequest,
  RECONFIGURATION_CONTEXT,
  requestSignBytes,
  signRequest,
} from '../../src/reconfig/request.ts';
import { formatRequestFile, parseRequestFile } from '../../src/reconfig/request-file.ts';
import { CONSENSUS_CONTEXT } from '../../src/shell/signing.ts';

/** A key pair from a one-byte seed, so that every run uses the same keys. */
function keyPair(seed: number): KeyPair {
  return mlDsa87.keyPairFromSeed(new Uint8Array(32).fill(seed));
}

const validatorKeys = [1, 2, 3, 4, 5, 6, 7].map(keyPair);
const operatorKeys = [11, 12, 13].map(keyPair);

/** A cluster of `n` validators with the first `operators` operator keys and `threshold`. */
function cluster(n: number, operators: number, threshold: number): ClusterFile {
  return {
    clusterId: 'reconfig-test',
    validators: validatorKeys.slice(0, n).map((keys, i) => ({
      nodeId: `node-${i}`,
      publicKey: keys.publicKey,
      address: `127.0.0.1:${7100 + i}`,
    })),
    consensus: { checkpointInterval: 16, watermarkWindow: 64 },
    ...(operators === 0
      ? {}
      : { operators: { keys: operatorKeys.slice(0, operators).map((k) => k.publicKey), threshold } }),
  };
}

const ADD_NODE_4: Operation = {
  op: 'add',
  validator: { nodeId: 'node-4', publicKey: validatorKeys[4]!.publicKey, address: '127.0.0.1:7104' },
};

/** Asserts that `run` throws a ReconfigurationError with `code` and a message matching `message`. */
function assertRefused(run: () => unknown, code: ReconfigurationErrorCode, message: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof ReconfigurationError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}

describe('reconfiguration requests', () => {
  it('takes effect with the threshold of distinct operator signatures, not with fewer', () => {
    const epoch = epochZero(cluster(4, 3, 2));
    const unsigned = proposeRequest(epoch, [ADD_NODE_4]);
    assert.deepEqual(
      unsigned.next.validators.map((validator) => validator.nodeId),
      ['node-0', 'node-1', 'node-2', 'node-3', 'node-4'],
    );
    assertRefused(() => checkRequest(unsigned, epoch), 'threshold', /0 of the 2 operator signatures/);
    const once = signRequest(unsigned, epoch, operatorKeys[1]!);
    assertRefused(() => checkRequest(once, epoch), 'threshold', /1 of the 2/);
    // The same operator signing again replaces its signature: still one operator.
    const twiceByOne = signRequest(once, epoch, operatorKeys[1]!);
    assert.equal(twiceByOne.signatures.length, 1);
    assertRefused(() => checkRequest(twiceByOne, epoch), 'threshold', /1 of the 2/);
    const twice = signRequest(once, epoch, operatorKeys[2]!);
    const checked = checkRequest(twice, epoch);
    assert.deepEqual(checked.signers, [1, 2]);
    assert.equal(checked.next.validators.length, 5);
  });

  it('refuses a signature that does not cover the request, names no operator, or was made as a vote', () => {
    const epoch = epochZero(cluster(4, 1, 1));
    const signed = signRequest(proposeRequest(epoch, [ADD_NODE_4]), epoch, operatorKeys[0]!);
    // The same signature on another change (the operations and the next epoch both changed).
    const other = proposeRequest(epoch, [
      { ...ADD_NODE_4, validator: { ...ADD_NODE_4.validator, nodeId: 'node-9' } },
    ]);
    assertRefused(
      () => checkRequest({ ...other, signatures: signed.signatures }, epoch),
      'signatures',
      /signatures\[0\] \(operator 0\) does not verify/,
    );
    assertRefused(
      () => checkRequest({ ...signed, signatures: [{ ...signed.signatures[0]!, operator: 3 }] }, epoch),
      'signatures',
      /names operator 3; epoch 0 has operators 0 to 0/,
    );
    // The operator's key over the very same bytes, but under the consensus context.
    const asVote = mlDsa87.sign(operatorKeys[0]!.privateKey, requestSignBytes(signed), CONSENSUS_CONTEXT);
    assertRefused(
      () => checkRequest({ ...signed, signatures: [{ operator: 0, signature: asVote }] }, epoch),
      'signatures',
      /does not verify/,
    );
    // A validator's key is no operator's.
    assertRefused(
      () => signRequest(signed, epoch, validatorKeys[0]!),
      'signatures',
      /not one of the operator keys/,
    );
    assert.equal(RECONFIGURATION_CONTEXT.length > 0, true);
  });

  it('binds a request to one cluster and one epoch', () => {
    const epoch = epochZero(cluster(4, 1, 1));
    const signed = signRequest(proposeRequest(epoch, [ADD_NODE_4]), epoch, operatorKeys[0]!);
    assertRefused(
      () => checkRequest(signed, { number: 1, members: epoch.members }),
      'stale-epoch',
      /changes epoch 0, but the current epoch is 1/,
    );
    const elsewhere = epochZero({ ...cluster(4, 1, 1), clusterId: 'another' });
    assertRefused(
      () => checkRequest(signed, elsewhere),
      'malformed',
      /for cluster "reconfig-test"; this is "another"/,
    );
    assertRefused(() => signRequest(signed, elsewhere, operatorKeys[0]!), 'malformed', /for cluster/);
  });

  it('refuses every change when the epoch names no operators', () => {
    const epoch = epochZero(cluster(4, 0, 0));
    const unsigned = proposeRequest(epoch, [ADD_NODE_4]);
    assertRefused(() => checkRequest(unsigned, epoch), 'threshold', /names no operators/);
    assertRefused(
      () => signRequest(unsigned, epoch, operatorKeys[0]!),
      'signatures',
      /not one of the operator keys/,
    );
  });

  it('refuses a next epoch that is not well formed, or not what the operations make', () => {
    const epoch = epochZero(cluster(4, 1, 1));
    assertRefused(() => proposeRequest(epoch, []), 'malformed', /at least one operation/);
    assertRefused(
      () => proposeRequest(epoch, [{ op: 'remove', nodeId: 'node-3' }]),
      'malformed',
      /has 3 validators; an epoch needs at least 4/,
    );
    assertRefused(
      () => proposeRequest(epoch, [{ op: 'remove', nodeId: 'node-9' }]),
      'malformed',
      /operations\[0\] \(remove\): there is no validator node-9/,
    );
    assertRefused(
      () =>
        proposeRequest(epoch, [
          { ...ADD_NODE_4, validator: { ...ADD_NODE_4.validator, publicKey: validatorKeys[1]!.publicKey } },
        ]),
      'malformed',
      /next epoch\.validators\[4\]\.publicKey: the same key as validators\[1\]/,
    );
    assertRefused(
      () =>
        proposeRequest(epoch, [
          { op: 'rotate-key', nodeId: 'node-2', publicKey: operatorKeys[0]!.publicKey },
        ]),
      'malformed',
      /operators\.keys\[0\]: the same key as validators\[2\]/,
    );
    assertRefused(
      () => proposeRequest(epoch, [{ op: 'set-figures', consensus: { checkpointInterval: 0 } }]),
      'malformed',
      /consensus\.checkpointInterval/,
    );
    // A request whose `next` is not its operations applied to the epoch: built for a 5th node,
    // then carrying the epoch of another change.
    const removal = proposeRequest(epochZero(cluster(5, 1, 1)), [{ op: 'remove', nodeId: 'node-0' }]);
    const forged = signRequest(
      { ...proposeRequest(epoch, [ADD_NODE_4]), next: removal.next },
      epoch,
      operatorKeys[0]!,
    );
    assertRefused(
      () => checkRequest(forged, epoch),
      'malformed',
      /"next" is not what the operations make of epoch 0/,
    );
  });

  it('changes n from 4 to 7 and back, removes the leader, replaces and rotates', () => {
    let members = cluster(4, 1, 1);
    const step = (operations: readonly Operation[]): string[] => {
      const epoch = epochZero(members);
      const checked = checkRequest(
        signRequest(proposeRequest(epoch, operations), epoch, operatorKeys[0]!),
        epoch,
      );
      members = checked.next;
      return members.validators.map((validator) => validator.nodeId);
    };
    const add = (i: number): Operation => ({
      op: 'add',
      validator: {
        nodeId: `node-${i}`,
        publicKey: validatorKeys[i]!.publicKey,
        address: `127.0.0.1:${7100 + i}`,
      },
    });
    assert.deepEqual(step([add(4), add(5), add(6)]), [
      'node-0',
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
      'node-6',
    ]);
    assert.deepEqual(step([{ op: 'remove', nodeId: 'node-0' }]), [
      'node-1',
      'node-2',
      'node-3',
      'node-4',
      'node-5',
      'node-6',
    ]);
    const fresh = keyPair(99);
    step([{ op: 'rotate-key', nodeId: 'node-3', publicKey: fresh.publicKey }]);
    assert.equal(toHex(members.validators[2]!.publicKey.raw), toHex(fresh.publicKey.raw));
    assert.equal(members.validators[2]!.address, '127.0.0.1:7103', 'a rotated validator keeps its address');
    assert.deepEqual(
      step([
        {
          op: 'replace',
          nodeId: 'node-5',
          validator: { nodeId: 'node-5b', publicKey: validatorKeys[0]!.publicKey, address: '10.0.0.5:7100' },
        },
      ]),
      ['node-1', 'node-2', 'node-3', 'node-4', 'node-5b', 'node-6'],
    );
    assert.deepEqual(
      step([
        { op: 'remove', nodeId: 'node-5b' },
        { op: 'remove', nodeId: 'node-6' },
      ]),
      ['node-1', 'node-2', 'node-3', 'node-4'],
    );
  });
});

describe('reconfiguration request files', () => {
  const epoch = epochZero(cluster(4, 3, 2));
  const request = signRequest(
    proposeRequest(epoch, [
      ADD_NODE_4,
      { op: 'set-operators', operators: { keys: [operatorKeys[0]!.publicKey], threshold: 1 } },
    ]),
    epoch,
    operatorKeys[0]!,
  );

  it('reads back what it writes, signing the same bytes', () => {
    const text = formatRequestFile(request);
    const read = parseRequestFile(text, 'r.json');
    assert.equal(toHex(requestSignBytes(read)), toHex(requestSignBytes(request)));
    assert.equal(formatRequestFile(read), text);
    assert.deepEqual(checkRequest(signRequest(read, epoch, operatorKeys[2]!), epoch).signers, [0, 2]);
  });

  it('signs the same bytes whether keys are PEM or hex and fields in any order', () => {
    const json = JSON.parse(formatRequestFile(request)) as Record<string, unknown> & {
      operations: { validator?: { publicKey: string } }[];
    };
    json.operations[0]!.validator!.publicKey = toHex(validatorKeys[4]!.publicKey.raw);
    const reordered = Object.fromEntries(Object.entries(json).reverse());
    const read = parseRequestFile(JSON.stringify(reordered), 'hex.json');
    assert.equal(toHex(requestSignBytes(read)), toHex(requestSignBytes(request)));
    assert.deepEqual(checkRequest(signRequest(read, epoch, operatorKeys[1]!), epoch).signers, [0, 1]);
  });

  it('refuses a file that is not a request, naming the field', () => {
    const json = JSON.parse(formatRequestFile(request)) as Record<string, unknown>;
    const cases: [string, RegExp][] = [
      ['not json', /request file bad\.json: not valid JSON/],
      [
        JSON.stringify({ ...json, format: 'other' }),
        /format: is "other"; this release reads cretoai-reconfiguration\/v1/,
      ],
      [JSON.stringify({ ...json, operations: [{ op: 'promote', nodeId: 'node-1' }] }), /operations\[0\]/],
      [
        JSON.stringify({ ...json, signatures: [{ operator: 0, signature: 'abcd' }] }),
        /signatures\[0\]\.signature: must be 9254 hex digits/,
      ],
      [JSON.stringify({ ...json, extra: 1 }), /extra/],
      [
        JSON.stringify({ ...json, operations: [{ op: 'rotate-key', nodeId: 'node-1', publicKey: 'zz' }] }),
        /operations\[0\]\.publicKey: is not an ML-DSA-87 public key/,
      ],
    ];
    for (const [text, message] of cases)
      assertRefused(() => parseRequestFile(text, 'bad.json'), 'malformed', message);
  });
});
