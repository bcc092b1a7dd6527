/**
 * `npm run bench:round [-- --rounds 300 --store memory|lmdb --transport memory|tcp --scheme ml-dsa-87|unchecked|none|free-commits|free-votes]`
 *
 * A lone vertex's round without process boundaries: four engines in one process (one main
 * thread, one libuv pool), ML-DSA-87 on every message, one vertex proposed at a time at the
 * primary and awaited until it is final there. Prints the wall time and the main thread's CPU
 * per round, after a warm-up of a third of the rounds. With `--store lmdb --transport tcp` the
 * engines sync LMDB stores and talk over sealed TCP on loopback, as node processes do; what four
 * node processes add on top (`npm run bench:cpu`, `npm run bench:trace`) is then the cost of
 * being four processes: HTTP, event streams, and four event loops waking on two cores.
 *
 * With `--scheme none` every message is signed and checked with the simulator's stand-in (a
 * truncated SHA-256, microseconds a message): not a mode the node has, but a measurement of what
 * a round would take if its signatures cost nothing, the most any cut in signatures could win.
 * `--scheme unchecked` signs with ML-DSA-87 but takes every signature for valid without checking
 * it: the round if checks cost nothing, the most that fewer or deferred checks could win.
 * `--scheme free-commits` and `--scheme free-votes` sign and check everything with ML-DSA-87
 * except COMMITs (or PREPAREs and COMMITs), whose signatures cost nothing: the most that votes
 * authenticated by the channel alone, as in PBFT with MACs, could win. The protocol relies on
 * those signatures (certificates carry them to third parties), so this too is only a measurement.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { insecureSimulationScheme, mlDsa87, type SignatureScheme, toHex } from '../src/crypto/index.ts';
import type { BftEngine, FinalizedVertex } from '../src/engine/index.ts';
import type { SignedKind } from '../src/protocol/index.ts';
import { systemClock } from '../src/shell/clock.ts';
import type { Store } from '../src/storage/index.ts';
import { LmdbStore } from '../src/storage/lmdb/store.ts';
import { ClusterDiscovery } from '../src/transport/discovery.ts';
import { TcpTransport } from '../src/transport/tcp.ts';
import { EPOCH_SIGN_DOMAIN_TAGS, SIGN_DOMAIN_TAGS } from '../src/wire/sign-bytes.ts';
import { Cluster, payload } from '../test/engine/cluster.ts';

/**
 * What signs and checks the engines' messages: ML-DSA-87 as in a node, or one of two
 * measurements (see the header), never a mode a node has.
 */
const SCHEMES: Readonly<Record<string, SignatureScheme>> = {
  'ml-dsa-87': mlDsa87,
  unchecked: { ...mlDsa87, verify: () => true, verifyAsync: () => Promise.resolve(true) },
  none: insecureSimulationScheme,
  'free-commits': freeSignaturesFor(['commit']),
  'free-votes': freeSignaturesFor(['prepare', 'commit']),
};

/**
 * ML-DSA-87, except that messages of `kinds` (known by the domain tag their sign-bytes start
 * with) get a signature of zeros, taken as valid without a check.
 */
function freeSignaturesFor(kinds: readonly SignedKind[]): SignatureScheme {
  const tags = kinds.flatMap((kind) => [SIGN_DOMAIN_TAGS[kind], EPOCH_SIGN_DOMAIN_TAGS[kind]]);
  const prefixes = tags.map((tag) => Buffer.concat([Buffer.of(tag.length), Buffer.from(tag, 'ascii')]));
  const isFree = (message: Uint8Array): boolean =>
    prefixes.some(
      (prefix) =>
        message.length >= prefix.length &&
        Buffer.from(message.buffer, message.byteOffset, prefix.length).equals(prefix),
    );
  const zeros = (): Uint8Array => new Uint8Array(mlDsa87.signatureBytes);
  return {
    ...mlDsa87,
    sign: (key, message, context) => (isFree(message) ? zeros() : mlDsa87.sign(key, message, context)),
    signAsync: (key, message, context) =>
      isFree(message) ? Promise.resolve(zeros()) : mlDsa87.signAsync(key, message, context),
    verify: (key, message, signature, context) =>
      isFree(message) || mlDsa87.verify(key, message, signature, context),
    verifyAsync: (key, message, signature, context) =>
      isFree(message) ? Promise.resolve(true) : mlDsa87.verifyAsync(key, message, signature, context),
  };
}

/** Loopback ports of the TCP variant: node-i listens on BASE_PORT + i. */
const BASE_PORT = 47_101;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '300' },
      store: { type: 'string', default: 'memory' },
      transport: { type: 'string', default: 'memory' },
      scheme: { type: 'string', default: 'ml-dsa-87' },
    },
    strict: true,
  });
  const rounds = Number(values.rounds);
  if (!Number.isSafeInteger(rounds) || rounds < 3)
    throw new Error('--rounds must be an integer of at least 3');
  if (values.store !== 'memory' && values.store !== 'lmdb') throw new Error('--store must be memory or lmdb');
  if (values.transport !== 'memory' && values.transport !== 'tcp')
    throw new Error('--transport must be memory or tcp');
  const scheme = SCHEMES[values.scheme];
  if (scheme === undefined) throw new Error(`--scheme must be one of ${Object.keys(SCHEMES).join(', ')}`);

  const cluster = new Cluster({ scheme, clock: systemClock });
  const dirs: string[] = [];
  const real = values.store === 'lmdb' || values.transport === 'tcp';
  for (let i = 0; real && i < cluster.ids.length; i++) {
    let store: Store = cluster.stores[i]!;
    if (values.store === 'lmdb') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cretoai-round-'));
      dirs.push(dir);
      store = await LmdbStore.open({ path: dir, clusterId: 'engine-test', replica: i });
    }
    const transport = values.transport === 'tcp' ? { transport: tcpTransport(cluster, i, scheme) } : {};
    // The engines made by the constructor never start; these replace them.
    cluster.engines[i] = cluster.createEngine(i, store as never, transport);
  }
  await cluster.start();
  try {
    const primary = cluster.engines[0]!;
    await oneRound(primary, 0);
    const warmup = Math.floor(rounds / 3);
    for (let i = 1; i <= warmup; i++) await oneRound(primary, i);
    const cpuFrom = process.threadCpuUsage();
    const wallFrom = performance.now();
    const measured = rounds - warmup;
    for (let i = 0; i < measured; i++) await oneRound(primary, warmup + 1 + i);
    const cpu = process.threadCpuUsage(cpuFrom);
    const wallMs = (performance.now() - wallFrom) / measured;
    const cpuMs = (cpu.user + cpu.system) / 1000 / measured;
    process.stdout.write(
      `${measured} rounds (store ${values.store}, transport ${values.transport}, signatures ${values.scheme}): ` +
        `${wallMs.toFixed(2)} ms wall a round, ${cpuMs.toFixed(2)} ms of main-thread CPU a round for the four engines\n`,
    );
  } finally {
    await cluster.stop();
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Proposes one vertex at `primary` and resolves once it is final there. */
async function oneRound(primary: BftEngine, index: number): Promise<void> {
  const vertex = primary.createVertex(payload('round', index, 256));
  const key = toHex(vertex.hash);
  const final = new Promise<void>((resolve) => {
    const onFinal = (finalized: FinalizedVertex): void => {
      if (toHex(finalized.hash) !== key) return;
      primary.off('finalized', onFinal);
      resolve();
    };
    primary.on('finalized', onFinal);
  });
  await primary.propose(vertex);
  await final;
}

/** A sealed TCP transport for validator `i` of `cluster`, on loopback. */
function tcpTransport(cluster: Cluster, i: number, scheme: SignatureScheme): TcpTransport {
  const validators = new Map(cluster.ids.map((id, j) => [id, cluster.keys[j]!.publicKey]));
  const peers: Record<string, string> = {};
  for (const [j, id] of cluster.ids.entries()) if (j !== i) peers[id] = `127.0.0.1:${BASE_PORT + j}`;
  return new TcpTransport({
    nodeId: cluster.ids[i]!,
    clusterId: 'engine-test',
    privateKey: cluster.keys[i]!.privateKey,
    validators,
    discovery: new ClusterDiscovery(peers),
    listen: { host: '127.0.0.1', port: BASE_PORT + i },
    maxFrameBytes: 1 << 22,
    scheme,
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`round: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
