/**
 * The HTTP API's contract, route by route: what each answers, the error codes of bad input
 * (400, 404, 405, 413, 415, 429 with Retry-After), the order of the event stream, the bounded
 * per-client event buffer, and a node that stays up through all of it.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { clusterKeysOf } from '../../src/client/client.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { verifyFinalVertex } from '../../src/client/proof.ts';
import { toHex } from '../../src/crypto/index.ts';
import { PROPOSAL_WAITERS_MAX } from '../../src/engine/index.ts';
import { createVertex } from '../../src/protocol/index.ts';
import { encodeVertexList, VERTEX_LIST_MEDIA_TYPE } from '../../src/wire/vertex-list.ts';
import { promtool, skipWithoutPromtool } from '../support/promtool.ts';
import { call, clusterDir, editConfig, postJson, readEvents, startNode, type TestNode } from './support.ts';

/** Runs `fn` with a `t.after`-like hook bound to a describe block's `after`. */
const hooks = (cleanups: (() => Promise<void> | void)[]) => ({
  after: (fn: () => Promise<void> | void) => cleanups.push(fn),
});

function b64(text: string | Uint8Array): string {
  return Buffer.from(typeof text === 'string' ? text : text).toString('base64');
}

describe('HTTP API of a one-validator node', { timeout: 60_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let node: TestNode;
  let clusterFile: string;
  before(async () => {
    const cluster = await clusterDir(hooks(cleanups), 1);
    clusterFile = cluster.clusterFile;
    editConfig(cluster, 0, (config) => {
      config.http = { ...(config.http as object), maxBodyBytes: 65_536, submitVerticesMax: 32 };
      config.engine = { ...(config.engine as object), vertexPayloadBytesMax: 1000 };
    });
    node = await startNode(hooks(cleanups), cluster, 0);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('POST /v1/vertices (JSON) answers 202 with the vertex hash, its validThrough and where to look it up', async () => {
    const parent = createVertex(new TextEncoder().encode('parent'), { validThrough: 50 }).hash;
    const expected = toHex(
      createVertex(new TextEncoder().encode('hello'), { parents: [parent], validThrough: 60 }).hash,
    );
    const answer = await postJson(`${node.url}/v1/vertices`, {
      payload: b64('hello'),
      parents: [toHex(parent)],
      validThrough: 60,
    });
    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body, { hash: expected, status: 'accepted', validThrough: 60 });
    assert.equal(answer.headers.get('location'), `/v1/vertices/${expected}`);
    // Without validThrough the node picks the horizon past its last final sequence.
    const { sequence, dedupHorizonSequences } = (await call(`${node.url}/v1/status`)).body;
    const chosen = await postJson(`${node.url}/v1/vertices`, { payload: b64('hello, node') });
    assert.equal(chosen.status, 202);
    assert.ok(chosen.body.validThrough >= sequence + dedupHorizonSequences);
    assert.equal(
      chosen.body.hash,
      toHex(
        createVertex(new TextEncoder().encode('hello, node'), { validThrough: chosen.body.validThrough })
          .hash,
      ),
    );
  });

  it('POST /v1/vertices refuses a validThrough that is not a sequence, already final, or too far ahead', async () => {
    const post = (validThrough: unknown) =>
      postJson(`${node.url}/v1/vertices`, { payload: b64(`vt ${String(validThrough)}`), validThrough });
    for (const bad of [0, -1, 1.5, '7', 2 ** 60]) {
      const answer = await post(bad);
      assert.equal(answer.status, 400, `validThrough ${String(bad)}`);
      assert.equal(answer.body.error.code, 'bad-request');
    }
    const { sequence, dedupHorizonSequences } = (await call(`${node.url}/v1/status`)).body;
    const tooFar = await post(sequence + dedupHorizonSequences + 1);
    assert.equal(tooFar.status, 400);
    assert.equal(tooFar.body.error.code, 'invalid');
    if (sequence > 0) {
      const expired = await post(sequence);
      assert.equal(expired.status, 410);
      assert.equal(expired.body.error.code, 'expired');
    }
  });

  it('POST /v1/vertices (application/octet-stream) takes the raw payload and parents in the query', async () => {
    const parent = createVertex(new TextEncoder().encode('p'), { validThrough: 9 }).hash;
    const payload = new Uint8Array([0, 1, 2, 255]);
    const answer = await call(`${node.url}/v1/vertices?parents=${toHex(parent)}&validThrough=70`, {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(answer.status, 202);
    assert.equal(
      answer.body.hash,
      toHex(createVertex(payload, { parents: [parent], validThrough: 70 }).hash),
    );
  });

  it(`POST /v1/vertices (${VERTEX_LIST_MEDIA_TYPE}) takes a binary list; a broken one gets 400 or 413`, async () => {
    const url = `${node.url}/v1/vertices`;
    const post = (body: Uint8Array) =>
      call(url, { method: 'POST', body, headers: { 'content-type': VERTEX_LIST_MEDIA_TYPE } });
    const parent = createVertex(new TextEncoder().encode('p'), { validThrough: 9 }).hash;
    const listed = [
      { payload: new Uint8Array([1, 2, 3]), parents: [parent], validThrough: 80 },
      { payload: new Uint8Array(0), parents: [], validThrough: 81 },
      // 0: the node chooses, as a JSON vertex without validThrough.
      { payload: new TextEncoder().encode('chosen'), parents: [], validThrough: 0 },
    ];
    const answer = await post(encodeVertexList(listed));
    assert.equal(answer.status, 202);
    assert.equal(answer.body.accepted, 3);
    assert.deepEqual(answer.body.rejected, []);
    const chosen = answer.body.validThrough[2];
    assert.ok(Number.isSafeInteger(chosen) && chosen > 0);
    assert.deepEqual(
      answer.body.hashes,
      listed.map((vertex, i) =>
        toHex(
          createVertex(vertex.payload, {
            parents: vertex.parents,
            validThrough: i === 2 ? chosen : vertex.validThrough,
          }).hash,
        ),
      ),
    );
    const whole = encodeVertexList(listed.slice(0, 2));
    const cases: [string, Uint8Array, number, string][] = [
      ['an empty list', encodeVertexList([]), 400, 'bad-request'],
      ['a truncated list', whole.subarray(0, whole.length - 3), 400, 'bad-encoding'],
      ['bytes after the list', Uint8Array.of(...whole, 0), 400, 'bad-encoding'],
      ['a count beyond the body', Uint8Array.of(0, 0, 0, 9), 400, 'bad-encoding'],
      [
        'more vertices than http.submitVerticesMax',
        encodeVertexList(Array.from({ length: 33 }, () => listed[1]!)),
        413,
        'too-large',
      ],
      [
        'more parents than vertexParentsMax',
        encodeVertexList([{ payload: new Uint8Array(1), parents: Array(65).fill(parent), validThrough: 90 }]),
        413,
        'too-large',
      ],
    ];
    for (const [name, body, status, code] of cases) {
      const refused = await post(body);
      assert.equal(refused.status, status, name);
      assert.equal(refused.body.error.code, code, name);
      assert.ok(refused.body.error.message.length > 0, name);
    }
  });

  it('a submitted vertex becomes final: GET /v1/vertices/:hash gives its place and a commit certificate that checks out', async () => {
    const events = await readEvents(node.url);
    try {
      const answer = await postJson(`${node.url}/v1/vertices`, { payload: b64('certified') });
      const hash = answer.body.hash as string;
      await events.until((seen) => seen.some((event) => event.hash === hash));
      const found = await call(`${node.url}/v1/vertices/${hash}`);
      assert.equal(found.status, 200);
      assert.equal(found.body.status, 'final');
      assert.equal(found.body.batch[found.body.index], hash);
      const place = verifyFinalVertex(hash, found.body, clusterKeysOf(loadClusterFile(clusterFile)));
      assert.equal(place.sequence, found.body.sequence);
      const event = events.events.find((item) => item.hash === hash)!;
      assert.equal(event.sequence, found.body.sequence);
      // Upper-case hex names the same vertex.
      assert.equal((await call(`${node.url}/v1/vertices/${hash.toUpperCase()}`)).body.hash, hash);
      // ?proof=0: the same place, without the batch's hashes and the certificate.
      const { batch, commits, ...located } = found.body;
      assert.ok(batch.length > 0 && commits.length > 0);
      const light = await call(`${node.url}/v1/vertices/${hash}?proof=0`);
      assert.deepEqual(light.body, located);
      const odd = await call(`${node.url}/v1/vertices/${hash}?proof=maybe`);
      assert.equal(odd.status, 400);
      assert.match(odd.body.error.message, /proof must be 0, 1, false or true/);
    } finally {
      events.close();
    }
  });

  it('GET /v1/events delivers finalized vertices once each, in the total order', async () => {
    const events = await readEvents(node.url);
    try {
      const hashes: string[] = [];
      for (let round = 0; round < 3; round++) {
        const vertices = Array.from({ length: 20 }, (_, i) => ({ payload: b64(`order ${round} ${i}`) }));
        const answer = await postJson(`${node.url}/v1/vertices`, { vertices });
        assert.equal(answer.status, 202);
        assert.equal(answer.body.accepted, 20);
        hashes.push(...(answer.body.hashes as string[]));
      }
      const wanted = new Set(hashes);
      await events.until((seen) => seen.filter((event) => wanted.has(event.hash)).length === wanted.size);
      const seen = events.events;
      assert.equal(new Set(seen.map((event) => event.hash)).size, seen.length, 'no vertex twice');
      for (let i = 1; i < seen.length; i++) {
        const [a, b] = [seen[i - 1]!, seen[i]!];
        assert.ok(
          a.sequence < b.sequence || (a.sequence === b.sequence && a.position < b.position),
          `event ${i} (${b.sequence}.${b.position}) after ${a.sequence}.${a.position}`,
        );
      }
    } finally {
      events.close();
    }
  });

  it('GET /v1/vertices/:hash answers 404 for an unknown vertex and 400 for a malformed hash', async () => {
    const unknown = await call(`${node.url}/v1/vertices/${'ab'.repeat(32)}`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'not-found');
    const malformed = await call(`${node.url}/v1/vertices/not-a-hash`);
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.error.code, 'bad-encoding');
  });

  it('bad bodies get 400 with a code and a message', async () => {
    const url = `${node.url}/v1/vertices`;
    const cases: [string, unknown, string][] = [
      ['not JSON', '{"payload":', 'bad-request'],
      ['an array', [], 'bad-request'],
      ['a number payload', { payload: 12 }, 'bad-request'],
      ['no payload', { parents: [] }, 'bad-request'],
      ['payload not base64', { payload: 'not base64!' }, 'bad-encoding'],
      ['parents not a list', { payload: b64('x'), parents: 'ab' }, 'bad-request'],
      ['a parent not a hash', { payload: b64('x'), parents: ['12'] }, 'bad-encoding'],
      ['vertices empty', { vertices: [] }, 'bad-request'],
      ['a bad vertex in a list', { vertices: [{ payload: b64('a') }, { payload: 7 }] }, 'bad-request'],
    ];
    for (const [name, body, code] of cases) {
      const answer = await call(url, {
        method: 'POST',
        body: typeof body === 'string' ? body : JSON.stringify(body),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(answer.status, 400, name);
      assert.equal(answer.body.error.code, code, name);
      assert.ok(answer.body.error.message.length > 0, name);
    }
  });

  it('a body over http.maxBodyBytes gets 413, whether declared up front or streamed', async () => {
    const streamed = await call(`${node.url}/v1/vertices`, {
      method: 'POST',
      body: new Uint8Array(70_000),
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(streamed.status, 413);
    assert.equal(streamed.body.error.code, 'too-large');
    // A declared length far over the limit is refused before the body is read; the
    // connection is closed rather than read to its end.
    const declared = await new Promise<{ status: number; connection: string | undefined; body: string }>(
      (resolve, reject) => {
        const request = http.request(`${node.url}/v1/vertices`, {
          method: 'POST',
          headers: { 'content-type': 'application/octet-stream', 'content-length': String(100 << 20) },
        });
        request.on('response', (response) => {
          let body = '';
          response.on('data', (chunk: Buffer) => {
            body += chunk.toString();
          });
          response.on('end', () =>
            resolve({ status: response.statusCode!, connection: response.headers.connection, body }),
          );
        });
        request.on('error', reject);
        request.write(Buffer.alloc(1024));
      },
    );
    assert.equal(declared.status, 413);
    assert.equal(declared.connection, 'close');
    assert.equal(JSON.parse(declared.body).error.code, 'too-large');
  });

  it('a vertex the engine can never batch gets 413; a wrong media type 415; a wrong method 405; an unknown route 404', async () => {
    const oversized = await postJson(`${node.url}/v1/vertices`, { payload: b64(new Uint8Array(2000)) });
    assert.equal(oversized.status, 413);
    assert.equal(oversized.body.error.code, 'too-large');
    const text = await call(`${node.url}/v1/vertices`, {
      method: 'POST',
      body: 'hi',
      headers: { 'content-type': 'text/plain' },
    });
    assert.equal(text.status, 415);
    assert.equal(text.body.error.code, 'unsupported-media-type');
    const method = await call(`${node.url}/v1/vertices`);
    assert.equal(method.status, 405);
    assert.equal(method.headers.get('allow'), 'POST');
    const route = await call(`${node.url}/v2/nothing`);
    assert.equal(route.status, 404);
    assert.equal(route.body.error.code, 'not-found');
  });

  it('GET /v1/status, /v1/evidence, /metrics and /healthz answer, and the node is still up after the bad input', async () => {
    const status = await call(`${node.url}/v1/status`);
    assert.equal(status.status, 200);
    for (const field of [
      'nodeId',
      'clusterId',
      'epoch',
      'view',
      'leader',
      'sequence',
      'durableSequence',
      'chainDigest',
      'stableCheckpoint',
      'peers',
      'reputations',
      'faultTolerance',
      'quorum',
    ])
      assert.ok(field in status.body, field);
    assert.equal(status.body.nodeId, 'node-0');
    assert.equal(status.body.epoch, 0);
    assert.equal(status.body.leader, 'node-0');
    assert.ok(status.body.sequence >= 1);
    assert.deepEqual(await call(`${node.url}/v1/evidence`).then((answer) => answer.body), { evidence: [] });
    const metrics = await call(`${node.url}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(metrics.headers.get('content-type')!, /^text\/plain/);
    assert.match(metrics.text, /^consensus_vertices_finalized_total \d+/m);
    assert.match(metrics.text, /^cretoai_http_requests_total\{route="submit",code="400"\} \d+/m);
    const health = await call(`${node.url}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(health.body.state, 'running');
  });

  it('GET /metrics passes promtool check metrics', { skip: skipWithoutPromtool() }, async () => {
    const metrics = await call(`${node.url}/metrics`);
    const { status, output } = promtool(['check', 'metrics'], metrics.text);
    assert.equal(status, 0, output);
  });
});

describe('HTTP API of a node that cannot finalize (its peers are down)', { timeout: 60_000 }, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let node: TestNode;
  before(async () => {
    const cluster = await clusterDir(hooks(cleanups), 4);
    editConfig(cluster, 0, (config) => {
      // Acknowledged on its own disk: with every peer down no other can hold a vertex.
      config.engine = { ...(config.engine as object), pendingProposalsMax: 2, acknowledgeCopies: 0 };
      config.http = { ...(config.http as object), retryAfterSeconds: 3 };
      config.shutdownDrainMs = 0;
    });
    node = await startNode(hooks(cleanups), cluster, 0);
  });
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it('a submitted vertex is pending until final', async () => {
    const answer = await postJson(`${node.url}/v1/vertices`, { payload: b64('waits') });
    assert.equal(answer.status, 202);
    const found = await call(`${node.url}/v1/vertices/${answer.body.hash}`);
    assert.deepEqual(found.body, { hash: answer.body.hash, status: 'pending' });
  });

  it('a pending vertex submitted again and again: the submission beyond 16 is refused as full', async () => {
    // 'waits' is pending from the test before: one submission waits on it already.
    for (let again = 1; again < PROPOSAL_WAITERS_MAX; again++) {
      const answer = await postJson(`${node.url}/v1/vertices`, { payload: b64('waits') });
      assert.equal(answer.status, 202, `submission ${again + 1}`);
    }
    const crowded = await postJson(`${node.url}/v1/vertices`, { payload: b64('waits') });
    assert.equal(crowded.status, 429);
    assert.equal(crowded.body.error.code, 'full');
    assert.equal(crowded.headers.get('retry-after'), '3');
  });

  it('a full node answers 429 with Retry-After, and a list it cannot take wholly with the refused entries', async () => {
    await postJson(`${node.url}/v1/vertices`, { payload: b64('fills') });
    const full = await postJson(`${node.url}/v1/vertices`, { payload: b64('one too many') });
    assert.equal(full.status, 429);
    assert.equal(full.headers.get('retry-after'), '3');
    assert.equal(full.body.error.code, 'full');
    const list = await postJson(`${node.url}/v1/vertices`, {
      vertices: [{ payload: b64('a') }, { payload: b64('b') }],
    });
    assert.equal(list.status, 429);
    assert.equal(list.headers.get('retry-after'), '3');
    assert.deepEqual(
      list.body.rejected.map((entry: { index: number; code: string }) => [entry.index, entry.code]),
      [
        [0, 'full'],
        [1, 'full'],
      ],
    );
    assert.equal((await call(`${node.url}/healthz`)).status, 200);
  });
});

describe('GET /v1/events with a client that does not read', { timeout: 60_000 }, () => {
  it('disconnects the slow client once its buffer passes http.eventBufferBytesMax, and serves the others', async (t) => {
    const cluster = await clusterDir(t, 1);
    editConfig(cluster, 0, (config) => {
      config.http = { ...(config.http as object), eventBufferBytesMax: 65_536 };
    });
    const { url } = await startNode(t, cluster, 0);
    // A client that never reads: its socket stays paused.
    const { promise: closed, resolve: onClosed } = Promise.withResolvers<void>();
    const slow = http.get(`${url}/v1/events?payload=1`, (response) => {
      response.pause();
      response.on('close', () => onClosed());
      response.on('error', () => undefined);
    });
    slow.on('error', () => onClosed());
    const reader = await readEvents(url);
    try {
      // 64 KiB payloads travel in base64 to the slow client: a few megabytes fill the socket
      // buffers and then the node's own buffer for it.
      let submitted = 0;
      let dropped = false;
      void closed.then(() => {
        dropped = true;
      });
      for (let round = 0; round < 40 && !dropped; round++) {
        const vertices = Array.from({ length: 20 }, (_, i) => ({
          payload: Buffer.alloc(65_536, (round * 20 + i) % 251).toString('base64'),
        }));
        const answer = await postJson(`${url}/v1/vertices`, { vertices });
        assert.equal(answer.status, 202);
        submitted += 20;
        await reader.until((events) => events.length >= submitted);
      }
      await closed;
      const metrics = await call(`${url}/metrics`);
      assert.match(metrics.text, /^cretoai_event_clients_dropped_total 1$/m);
      // The reading client kept everything.
      assert.equal(reader.events.length, submitted);
    } finally {
      reader.close();
      slow.destroy();
    }
  });
});
