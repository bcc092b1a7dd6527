// Four engines over authenticated TCP on loopback, each with its own LMDB store in a temporary
// directory: the wiring an application does for each replica, written out by hand (this is what
// createLocalCluster({ transport: 'tcp', store: 'lmdb' }) does). Run it with
// `npx node examples/tcp-lmdb-cluster.ts` (an application imports 'cretoai-consensus' instead).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  BftEngine,
  ClusterDiscovery,
  LmdbStore,
  mlDsa87,
  resolveBftConfig,
  TcpTransport,
} from '../src/index.ts';

const clusterId = 'example';
const validators = ['node-0', 'node-1', 'node-2', 'node-3'];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-example-'));

// Every validator has an ML-DSA-87 key pair; every node knows every validator's public key.
const replicas = validators.map((nodeId) => ({
  nodeId,
  keys: mlDsa87.generateKeyPair(),
  discovery: new ClusterDiscovery(), // where the other validators listen: filled in below
}));
const publicKeys = new Map(replicas.map(({ nodeId, keys }) => [nodeId, keys.publicKey]));

// The transport must accept the largest frame the engine may send: take the engine's own limit.
const { maxFrameBytes } = resolveBftConfig(
  { nodeId: validators[0]!, validators, clusterId },
  mlDsa87.signatureBytes,
);

// Each transport listens on a port the OS chooses (port 0); listen() says which. Then every
// discovery learns the others' addresses, before any engine starts (and dials).
const transports = replicas.map(
  ({ nodeId, keys, discovery }) =>
    new TcpTransport({
      nodeId,
      clusterId,
      privateKey: keys.privateKey,
      validators: publicKeys,
      discovery,
      listen: { host: '127.0.0.1', port: 0 },
      maxFrameBytes,
    }),
);
const addresses = await Promise.all(transports.map(async (t) => `127.0.0.1:${(await t.listen()).port}`));
for (const { nodeId, discovery } of replicas)
  for (const [i, other] of validators.entries())
    if (other !== nodeId) discovery.setAddress(other, addresses[i]!);

// One LMDB store per replica. It records the cluster id and the replica's index (its place in
// `validators`) and refuses to open for another.
const stores = await Promise.all(
  validators.map((nodeId, replica) => LmdbStore.open({ path: path.join(dir, nodeId), clusterId, replica })),
);

const engines = replicas.map(({ nodeId, keys }, i) => {
  const engine = new BftEngine({ nodeId, validators, clusterId }, keys, {
    transport: transports[i]!,
    store: stores[i]!,
  });
  for (const [other, key] of publicKeys) if (other !== nodeId) engine.registerNodePublicKey(other, key);
  return engine;
});

try {
  await Promise.all(engines.map((engine) => engine.start()));
  console.log(`four engines on ${addresses.join(', ')}, stores in ${dir}`);
  // Proposals at every replica at once: a backup forwards its own to the leader.
  const results = await Promise.all(
    engines.map(async (engine, i) => {
      const result = await engine.propose(engine.createVertex(new TextEncoder().encode(`from ${i}`)));
      return { from: engine.config.nodeId, ...result };
    }),
  );
  for (const { from, sequence, position } of results)
    console.log(`the vertex proposed at ${from} is final at sequence ${sequence}, position ${position}`);
  for (const engine of engines) {
    const places: string[] = [];
    for await (const final of engine.finalized({ from: 1 })) {
      places.push(`${final.sequence}.${final.position}`);
      if (places.length === results.length) break;
    }
    console.log(`${engine.config.nodeId} finalized ${places.join(' ')}`);
  }
} finally {
  await Promise.all(engines.map((engine) => engine.stop())); // each stops its transport
  await Promise.all(stores.map((store) => store.close())); // the caller opened them: it closes them
  fs.rmSync(dir, { recursive: true, force: true });
}
