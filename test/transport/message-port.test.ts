/**
 * The MessagePort transport: frames reach the right peer with the sender's id, in order, as
 * copies; a peer that does not take its frames makes the sender drop past the bound rather
 * than queue without end; four engines on it finalize the same vertices in the same order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureSimulationScheme } from '../../src/crypto/index.ts';
import { BftEngine, createVertex } from '../../src/engine/index.ts';
import { systemClock } from '../../src/shell/clock.ts';
import { MemoryStore } from '../../src/storage/index.ts';
import { MessagePortTransport, messagePortMesh } from '../../src/transport/index.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

const IDS = ['a', 'b', 'c'];

function transports(ids: readonly string[], inFlightMax?: number): MessagePortTransport[] {
  const mesh = messagePortMesh(ids);
  return ids.map((id) => new MessagePortTransport({ nodeId: id, ports: mesh.get(id)!, inFlightMax }));
}

function collect(transport: MessagePortTransport): { from: string; frame: Uint8Array }[] {
  const received: { from: string; frame: Uint8Array }[] = [];
  transport.onFrame((from, frame) => received.push({ from, frame }));
  return received;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

test('frames reach the addressed peer, in order, tagged with the sender, as copies', async () => {
  const [a, b, c] = transports(IDS);
  const atB = collect(b!);
  const atC = collect(c!);
  await Promise.all([a!.start(), b!.start(), c!.start()]);
  try {
    const frame = new Uint8Array([1, 2, 3]);
    for (let i = 0; i < 100; i++) a!.send('b', Uint8Array.of(i));
    a!.broadcast(frame);
    frame[0] = 99; // the sender reusing its buffer must not change what was sent
    await until(() => atB.length === 101 && atC.length === 1);
    assert.deepEqual(
      atB.slice(0, 100).map(({ frame }) => frame[0]),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.ok(atB.every(({ from }) => from === 'a'));
    assert.deepEqual([...atC[0]!.frame], [1, 2, 3]);
    assert.equal(atC[0]!.from, 'a');
    assert.deepEqual([...a!.connectedPeers()].sort(), ['b', 'c']);
    a!.send('a', frame); // to itself: nothing, no throw
    a!.send('nobody', frame);
  } finally {
    await Promise.all([a!.stop(), b!.stop(), c!.stop()]);
  }
  assert.deepEqual(a!.connectedPeers(), []);
});

test('a peer that takes no frames costs the sender at most inFlightMax of them; the rest are dropped', async () => {
  const [a, b] = transports(['a', 'b'], 10);
  await a!.start(); // b never starts, so it never acknowledges
  try {
    for (let i = 0; i < 25; i++) a!.send('b', Uint8Array.of(i));
    assert.equal(a!.dropped, 15);
  } finally {
    await a!.stop();
    await b!.stop();
  }
});

test('acknowledgements free the bound: a steady stream larger than it all arrives', async () => {
  const [a, b] = transports(['a', 'b'], 100);
  const atB = collect(b!);
  await Promise.all([a!.start(), b!.start()]);
  try {
    for (let i = 0; i < 2_000; i++) {
      a!.send('b', Uint8Array.of(i & 0xff));
      if (i % 50 === 49) await until(() => atB.length === i + 1);
    }
    await until(() => atB.length === 2_000);
    assert.equal(a!.dropped, 0);
  } finally {
    await Promise.all([a!.stop(), b!.stop()]);
  }
});

test('bad options are refused with the field named', () => {
  const mesh = messagePortMesh(['a', 'b']);
  assert.throws(
    () => new MessagePortTransport({ nodeId: 'a', ports: mesh.get('a')!, inFlightMax: 0 }),
    /inFlightMax/,
  );
  assert.throws(() => new MessagePortTransport({ nodeId: 'b', ports: mesh.get('a')! }), /itself/);
  for (const ports of mesh.values()) for (const port of ports.values()) port.close();
});

test('four engines on MessagePort links finalize 200 vertices, proposed at every replica, in one order', async () => {
  const ids = ['n0', 'n1', 'n2', 'n3'];
  const mesh = messagePortMesh(ids);
  const keys = ids.map((_, i) => {
    const seed = new Uint8Array(insecureSimulationScheme.seedBytes);
    seed[0] = i + 1;
    return insecureSimulationScheme.keyPairFromSeed(seed);
  });
  const engines = ids.map((id, i) => {
    const engine = new BftEngine({ nodeId: id, validators: ids, clusterId: 'ports' }, keys[i]!, {
      transport: new MessagePortTransport({ nodeId: id, ports: mesh.get(id)! }),
      store: new MemoryStore(),
      scheme: insecureSimulationScheme,
      clock: systemClock,
    });
    for (const [j, other] of ids.entries())
      if (j !== i) engine.registerNodePublicKey(other, keys[j]!.publicKey);
    return engine;
  });
  const orders = engines.map((engine) => {
    const order: string[] = [];
    engine.on('finalized', (final) => order.push(Buffer.from(final.hash).toString('hex')));
    return order;
  });
  await Promise.all(engines.map((engine) => engine.start()));
  try {
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        engines[i % 4]!.propose(
          createVertex(new TextEncoder().encode(`port vertex ${i}`), { validThrough: TEST_VALID_THROUGH }),
        ),
      ),
    );
    await until(() => orders.every((order) => order.length === 200));
    for (const order of orders.slice(1)) assert.deepEqual(order, orders[0]);
  } finally {
    await Promise.all(engines.map((engine) => engine.stop({ drainTimeoutMs: 0 })));
  }
});
