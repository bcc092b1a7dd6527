/**
 * A replica that holds a client vertex reads it again in the PRE-PREPARE that orders it, and
 * takes the vertex it hashed already rather than hash the frame's copy (`known-vertices.ts`):
 * the accepting backup and the holder finalize the very objects they hold; a replica that holds
 * nothing hashes its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FinalizedVertex } from '../../src/engine/index.ts';
import type { Vertex } from '../../src/protocol/index.ts';
import { Cluster, payload } from './cluster.ts';

test('a replica that holds a client vertex finalizes the object it holds, not a second copy', async () => {
  const cluster = new Cluster();
  const finalized = cluster.engines.map(() => new Map<string, Vertex>());
  for (const [i, engine] of cluster.engines.entries()) {
    engine.on('finalized', (item: FinalizedVertex) =>
      finalized[i]!.set(Buffer.from(item.vertex.hash).toString('hex'), item.vertex),
    );
  }
  await cluster.start();
  try {
    // node-1, a backup, accepts them and holds them until final; node-0, the primary, holds
    // the one copy (f = 1) the acknowledgment waits for and orders them.
    const backup = cluster.engines[1]!;
    const vertices = [0, 1, 2].map((i) => backup.createVertex(payload('known', i)));
    const outcomes = backup.acceptMany(vertices);
    for (let elapsed = 0; elapsed < 5_000 && finalized.some((seen) => seen.size < 3); elapsed += 10)
      await cluster.advance(10);
    assert.deepEqual(
      (await outcomes).map((outcome) => outcome?.code ?? null),
      [null, null, null],
    );
    for (const vertex of vertices) {
      const key = Buffer.from(vertex.hash).toString('hex');
      assert.equal(finalized[1]!.get(key), vertex, 'the accepting backup finalizes its own object');
      // A replica that holds nothing decodes a copy: equal, another object.
      assert.notEqual(finalized[3]!.get(key), vertex);
      assert.deepEqual(finalized[3]!.get(key)!.hash, vertex.hash);
    }
  } finally {
    await cluster.stop();
  }
});
