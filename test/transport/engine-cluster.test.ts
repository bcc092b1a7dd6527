/**
 * The same cluster test over every real transport: four engines, each on its own TCP (plain
 * and TLS) or QUIC transport on loopback, with ML-DSA-87 on every message and every
 * connection, finalize the same vertices in the same order.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mlDsa87 } from '../../src/crypto/index.ts';
import { BftEngine, createVertex } from '../../src/engine/index.ts';
import { systemClock } from '../../src/shell/clock.ts';
import { MemoryStore } from '../../src/storage/index.ts';
import { QuicTransport } from '../../src/transport/index.ts';
import { skipWithoutQuic } from '../support/quic.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';
import { CLUSTER_ID, loopbackCluster, type TransportFactory, tcpFactory } from './tcp-support.ts';

const IDS = ['n0', 'n1', 'n2', 'n3'];
const VERTICES = 200;

const IMPLEMENTATIONS: readonly {
  readonly name: string;
  readonly factory: TransportFactory;
  readonly skip: string | false;
}[] = [
  { name: 'TCP', factory: tcpFactory, skip: false },
  { name: 'QUIC', factory: (options) => new QuicTransport(options), skip: await skipWithoutQuic() },
];

for (const { name, factory, skip } of IMPLEMENTATIONS) {
  describe(`engine cluster over ${name}`, { timeout: 60_000, skip }, () => {
    test(`four engines over ${name} finalize ${VERTICES} vertices, proposed at every replica, in one order`, async () => {
      const network = await loopbackCluster(IDS, {}, { factory, waitForMesh: true });
      const engines = IDS.map((id) => {
        const engine = new BftEngine(
          { nodeId: id, validators: IDS, clusterId: CLUSTER_ID },
          network.keys.get(id)!,
          { transport: network.get(id), store: new MemoryStore(), scheme: mlDsa87, clock: systemClock },
        );
        for (const other of IDS)
          if (other !== id) engine.registerNodePublicKey(other, network.registry.get(other)!);
        return engine;
      });
      const orders = engines.map((engine) => {
        const order: string[] = [];
        engine.on('finalized', (final) => order.push(Buffer.from(final.hash).toString('hex')));
        return order;
      });
      try {
        await Promise.all(engines.map((engine) => engine.start()));
        const results = await Promise.all(
          Array.from({ length: VERTICES }, (_, i) =>
            engines[i % engines.length]!.propose(
              createVertex(new TextEncoder().encode(`${name} vertex ${i}`), {
                validThrough: TEST_VALID_THROUGH,
              }),
            ),
          ),
        );
        assert.equal(
          new Set(results.map((result) => result.sequence * 1e6 + result.position)).size,
          VERTICES,
        );
        // Every replica finalizes all of them (a proposal resolves where it was made first).
        await new Promise<void>((resolve) => {
          const check = (): void => {
            if (orders.every((order) => order.length >= VERTICES)) resolve();
          };
          for (const engine of engines) engine.on('finalized', check);
          check();
        });
        for (const order of orders.slice(1)) assert.deepEqual(order, orders[0]);
        assert.equal(new Set(orders[0]).size, VERTICES, 'no vertex twice');
      } finally {
        await Promise.all(engines.map((engine) => engine.stop({ drainTimeoutMs: 0 })));
        await network.stop();
      }
    });
  });
}
