/**
 * The request reader the core is given: a signed request in a vertex changes the epoch it is
 * ordered in, and nothing else does (an unsigned, under-signed, stale, tampered or foreign
 * payload reads as no request at all). Run through the core, a real signed request moves a
 * cluster to its next epoch.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterFile } from '../../src/client/cluster-file.ts';
import { type KeyPair, mlDsa87 } from '../../src/crypto/index.ts';
import { createVertex, EPOCH_ZERO, type EpochRecord } from '../../src/protocol/index.ts';
import { epochZero } from '../../src/reconfig/epoch.ts';
import type { Operation } from '../../src/reconfig/operations.ts';
import {
  createRequestReader,
  isRequestPayload,
  parseRequestPayload,
  REQUEST_PAYLOAD_MAGIC,
  requestPayload,
} from '../../src/reconfig/reader.ts';
import { proposeRequest, signRequest } from '../../src/reconfig/request.ts';
import { TestCluster, vertices } from '../support/cluster.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

function keyPair(seed: number): KeyPair {
  return mlDsa87.keyPairFromSeed(new Uint8Array(32).fill(seed));
}

const validatorKeys = [1, 2, 3, 4, 5].map(keyPair);
const operatorKeys = [11, 12].map(keyPair);

const CLUSTER: ClusterFile = {
  clusterId: 'reader-test',
  validators: validatorKeys.slice(0, 4).map((keys, i) => ({
    nodeId: `node-${i}`,
    publicKey: keys.publicKey,
    address: `127.0.0.1:${7200 + i}`,
  })),
  consensus: { checkpointInterval: 4, watermarkWindow: 8 },
  operators: { keys: operatorKeys.map((keys) => keys.publicKey), threshold: 2 },
};

const ROTATE_NODE_2: Operation = {
  op: 'rotate-key',
  nodeId: 'node-2',
  publicKey: validatorKeys[4]!.publicKey,
};

function signed(operations: readonly Operation[], epoch = epochZero(CLUSTER)) {
  let request = proposeRequest(epoch, operations);
  for (const keys of operatorKeys) request = signRequest(request, epoch, keys);
  return request;
}

describe('the request reader', () => {
  it('reads a request signed by the threshold as the next epoch, figures included', () => {
    const reader = createRequestReader(CLUSTER);
    const request = signed([ROTATE_NODE_2]);
    const payload = requestPayload(request);
    assert.ok(isRequestPayload(payload));
    assert.deepEqual(requestPayload(parseRequestPayload(payload)), payload);
    const next = reader(payload, EPOCH_ZERO);
    assert.ok(next !== null);
    assert.deepEqual(next.nodes, ['node-0', 'node-1', 'node-2', 'node-3']);
    assert.equal(next.options.checkpointInterval, 4);
    assert.equal(next.options.watermarkWindow, 8);
  });

  it('reads anything else as no request: unsigned, under-signed, stale, tampered, foreign', () => {
    const reader = createRequestReader(CLUSTER);
    const epoch = epochZero(CLUSTER);
    const unsigned = proposeRequest(epoch, [ROTATE_NODE_2]);
    const once = signRequest(unsigned, epoch, operatorKeys[0]!);
    const good = requestPayload(signed([ROTATE_NODE_2]));
    const tampered = good.slice();
    const at = tampered.length - 10;
    tampered[at] = tampered[at]! ^ 1;
    const epochOne: EpochRecord = { number: 1, start: 9, end: null, closedAt: null, opening: good };
    for (const [what, payload, current] of [
      ['unsigned', requestPayload(unsigned), EPOCH_ZERO],
      ['one of two signatures', requestPayload(once), EPOCH_ZERO],
      ['a request of epoch 0 in epoch 1', good, epochOne],
      ['a tampered request', tampered, EPOCH_ZERO],
      ['the magic alone', new TextEncoder().encode(REQUEST_PAYLOAD_MAGIC), EPOCH_ZERO],
      ['a client payload', new TextEncoder().encode('hello'), EPOCH_ZERO],
    ] as const) {
      assert.equal(reader(payload, current), null, what);
    }
  });

  it('checks a request of epoch 1 against the members the request that opened epoch 1 named', () => {
    const reader = createRequestReader(CLUSTER);
    const first = signed([ROTATE_NODE_2]);
    const epochOne: EpochRecord = {
      number: 1,
      start: 9,
      end: null,
      closedAt: null,
      opening: requestPayload(first),
    };
    const add: Operation = {
      op: 'add',
      validator: { nodeId: 'node-4', publicKey: keyPair(21).publicKey, address: '127.0.0.1:7204' },
    };
    // Built on epoch 1's members (node-2's new key), signed by its operators.
    const second = signed([add], { number: 1, members: first.next });
    assert.deepEqual(reader(requestPayload(second), epochOne)?.nodes, [
      'node-0',
      'node-1',
      'node-2',
      'node-3',
      'node-4',
    ]);
    // The same change built on epoch 0 names node-2's old key: it is not epoch 1's change.
    const stale = signed([add]);
    assert.equal(reader(requestPayload({ ...stale, from: 1 }), epochOne), null);
  });

  it('moves a cluster of cores to the next epoch when the request is ordered', () => {
    const reader = createRequestReader(CLUSTER);
    const nodes = CLUSTER.validators.map((validator) => validator.nodeId);
    const c = new TestCluster(4, {
      clusterId: CLUSTER.clusterId,
      checkpointInterval: 4,
      watermarkWindow: 8,
      reconfiguration: { reader, nodes },
    });
    c.propose(0, vertices(2, 'before'));
    c.run();
    const forged = requestPayload({ ...signed([ROTATE_NODE_2]), signatures: [] });
    c.propose(1, [createVertex(forged, { validThrough: TEST_VALID_THROUGH })]);
    c.run();
    assert.equal(c.replicas[0]!.epochs.length, 1, 'an unsigned request changes nothing');
    c.propose(1, [
      createVertex(requestPayload(signed([ROTATE_NODE_2])), { validThrough: TEST_VALID_THROUGH }),
    ]);
    c.run();
    for (let round = 0; round < 20 && c.replicas[0]!.epoch === 0; round++) {
      c.propose(0, vertices(1, 'after'));
      c.run();
    }
    for (const state of c.replicas) {
      assert.equal(state.epoch, 1);
      assert.equal(state.config.replicaCount, 4);
    }
  });
});
