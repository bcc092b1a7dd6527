/**
 * BftClient against four real nodes (in this process, over TCP on loopback, ML-DSA-87
 * everywhere): a vertex is final for the client on one node's commit certificate, checked with
 * the validators' keys, or on f + 1 matching answers; a forged certificate is refused, and a
 * lying node cannot make a quorum alone.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { FinalVertexResponse } from '../../src/client/api.ts';
import { BftClient, clusterKeysOf } from '../../src/client/client.ts';
import { type ClusterFile, loadClusterFile } from '../../src/client/cluster-file.ts';
import { BftClientError } from '../../src/client/errors.ts';
import { verifyFinalVertex } from '../../src/client/proof.ts';
import { toHex } from '../../src/crypto/index.ts';
import { call, clusterDir, editConfig, startNode, type TestNode } from '../node/support.ts';

const encoder = new TextEncoder();

/** A node that answers every vertex lookup with `answer(hash)`. */
async function fakeNode(
  cleanups: (() => Promise<void> | void)[],
  answer: (hash: string) => unknown,
): Promise<string> {
  const server = http.createServer((request, response) => {
    const hash = (request.url ?? '').split('/').pop() ?? '';
    const body = JSON.stringify(answer(hash));
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function assertClientError(code: BftClientError['code']): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof BftClientError, String(error));
    assert.equal(error.code, code, error.message);
    return true;
  };
}

describe('BftClient with four nodes', { timeout: 90_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const hooks = { after: (fn: () => Promise<void> | void) => cleanups.push(fn) };
  let nodes: TestNode[];
  let cluster: ClusterFile;
  let proof: { hash: string; answer: FinalVertexResponse };

  before(async () => {
    const created = await clusterDir(hooks, 4);
    cluster = loadClusterFile(created.clusterFile);
    nodes = await Promise.all([0, 1, 2, 3].map((index) => startNode(hooks, created, index)));
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('submit and waitFinal: final on a commit certificate the client checks itself', async () => {
    const client = BftClient.fromClusterFile(cluster);
    const submitted = await client.submit({ payload: encoder.encode('by certificate') });
    assert.equal(submitted.acceptedBy.length, 1);
    const final = await client.waitFinal(submitted.hash, { proof: 'certificate' });
    assert.equal(final.proof, 'certificate');
    assert.ok(final.sequence >= 1);
    const answer = (await call(`${final.nodes[0]}/v1/vertices/${submitted.hash}`))
      .body as FinalVertexResponse;
    assert.equal(answer.sequence, final.sequence);
    assert.equal(answer.index, final.index);
    proof = { hash: submitted.hash, answer };
  });

  it('waitFinal by quorum: f + 1 nodes report the same place', async () => {
    const client = new BftClient({ nodes: nodes.map((node) => node.url), faultTolerance: 1 });
    const submitted = await client.submit({ payload: encoder.encode('by quorum') }, { to: 'all' });
    assert.equal(submitted.acceptedBy.length, 4);
    const final = await client.waitFinal(submitted.hash, { proof: 'quorum' });
    assert.equal(final.proof, 'quorum');
    assert.ok(final.nodes.length >= 2);
    assert.equal(final.view, undefined);
  });

  it('a forged certificate is refused: a changed signature, a slot the COMMITs do not sign, too few COMMITs, a batch that does not hold the vertex', () => {
    const keys = clusterKeysOf(cluster);
    const { hash, answer } = proof;
    assert.equal(verifyFinalVertex(hash, answer, keys).sequence, answer.sequence);
    const flipped = Buffer.from(answer.commits[0]!, 'base64');
    flipped[flipped.length - 10]! ^= 0x01;
    const forgeries: [string, FinalVertexResponse][] = [
      [
        'a flipped signature byte',
        { ...answer, commits: [flipped.toString('base64'), ...answer.commits.slice(1)] },
      ],
      ['another sequence', { ...answer, sequence: answer.sequence + 1 }],
      ['another view', { ...answer, view: answer.view + 1 }],
      ['one COMMIT short of a quorum', { ...answer, commits: answer.commits.slice(0, 2) }],
      [
        'a COMMIT counted twice',
        { ...answer, commits: [answer.commits[0]!, answer.commits[0]!, answer.commits[1]!] },
      ],
      [
        'another vertex in its place',
        { ...answer, batch: answer.batch.map((entry, i) => (i === answer.index ? 'ab'.repeat(32) : entry)) },
      ],
      ['another cluster', { ...answer, clusterId: 'another' }],
    ];
    for (const [name, forged] of forgeries) {
      assert.throws(
        () => verifyFinalVertex(hash, forged, keys),
        assertClientError('invalid-certificate'),
        name,
      );
    }
    // The same certificate does not convince a client of another cluster's keys.
    const otherKeys = { ...keys, publicKeys: [...keys.publicKeys].reverse() };
    assert.throws(() => verifyFinalVertex(hash, answer, otherKeys), assertClientError('invalid-certificate'));
  });

  it('waitFinal refuses a node whose certificate is forged, and a lying node alone makes no quorum', async () => {
    const { hash, answer } = proof;
    const forgedNode = await fakeNode(cleanups, () => ({ ...answer, sequence: answer.sequence + 1 }));
    const forgedClient = BftClient.fromClusterFile(cluster, { nodes: [forgedNode] });
    await assert.rejects(
      forgedClient.waitFinal(hash, { proof: 'certificate', timeoutMs: 5000 }),
      assertClientError('invalid-certificate'),
    );

    // A liar among honest nodes: by quorum, its different place is outvoted by the others.
    const liar = await fakeNode(cleanups, () => ({ ...answer, index: answer.index + 1 }));
    const client = new BftClient({
      nodes: [liar, ...nodes.slice(0, 2).map((node) => node.url)],
      faultTolerance: 1,
    });
    const final = await client.waitFinal(hash, { proof: 'quorum' });
    assert.equal(final.sequence, answer.sequence);
    assert.equal(final.index, answer.index);
    assert.ok(!final.nodes.includes(liar));
    // Alone, the liar gets nowhere within the time allowed.
    const alone = new BftClient({ nodes: [liar, nodes[0]!.url], faultTolerance: 1 });
    await assert.rejects(
      alone.waitFinal(toHex(new Uint8Array(32)), { proof: 'quorum', timeoutMs: 300 }),
      assertClientError('timeout'),
    );
  });

  it('typed errors: a vertex refused for what it is, and nodes that do not answer', async () => {
    const client = BftClient.fromClusterFile(cluster);
    await assert.rejects(
      client.submit({ payload: new Uint8Array(2 << 20) }),
      (error: unknown) => assertClientError('rejected')(error) && (error as BftClientError).status === 413,
    );
    const down = new BftClient({ nodes: ['http://127.0.0.1:9'], requestTimeoutMs: 2000 });
    await assert.rejects(down.submit({ payload: encoder.encode('x') }), assertClientError('unreachable'));
    await assert.rejects(down.status(), assertClientError('unreachable'));
    assert.throws(() => new BftClient({ nodes: [] }), assertClientError('misuse'));
  });
});

describe('BftClient and a full node', { timeout: 60_000 }, () => {
  it("says 'busy' with the node's Retry-After when every node asked is full", async (t) => {
    const created = await clusterDir(t, 4);
    editConfig(created, 0, (config) => {
      // Acknowledged on its own disk: no peer runs to hold a vertex too.
      config.engine = { ...(config.engine as object), pendingProposalsMax: 1, acknowledgeCopies: 0 };
      config.http = { ...(config.http as object), retryAfterSeconds: 2 };
      config.shutdownDrainMs = 0;
    });
    const lonely = await startNode(t, created, 0);
    const client = new BftClient({ nodes: [lonely.url] });
    await client.submit({ payload: encoder.encode('fills it') });
    await assert.rejects(
      client.submit({ payload: encoder.encode('too many') }),
      (error: unknown) => assertClientError('busy')(error) && (error as BftClientError).retryAfterMs === 2000,
    );
  });
});
