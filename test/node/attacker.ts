/**
 * An outsider's tools against a cluster's consensus ports, for the attack tests: it holds no
 * validator key, only what anyone who can reach the ports can do. Every connection leaves from
 * a loopback address of the attacker's own (127.0.0.x with x >= 2), so that it competes with
 * the validators (on 127.0.0.1) the way a stranger elsewhere on the network would.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import * as net from 'node:net';
import { mlDsa87, type PublicKey } from '../../src/crypto/index.ts';
import { dialHandshake, NonceLedger, StreamHandshakeChannel } from '../../src/transport/handshake.ts';

/** A connected socket to `port` from `localAddress`; null when the node refused or reset it. */
export function connectFrom(port: number, localAddress: string): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress });
    socket.on('error', () => resolve(null));
    socket.once('connect', () => resolve(socket));
  });
}

/** The attacker's source addresses: 127.0.0.2, 127.0.0.3, ... */
export function attackerAddress(index: number): string {
  return `127.0.${Math.floor(index / 250)}.${2 + (index % 250)}`;
}

/**
 * The relay of the issue: for every ordered pair of nodes, a connection to each, with every
 * byte one sends passed to the other (or dropped, for the black hole). Over the old plain-TCP
 * handshake this replaced the real links; now both ends wait for an OFFER neither sends.
 */
export async function relayEveryPair(
  ports: readonly number[],
  options: { readonly blackHole: boolean },
): Promise<{ relayed: () => number; close: () => void }> {
  const sockets: net.Socket[] = [];
  let relayed = 0;
  let source = 0;
  for (const [i, from] of ports.entries())
    for (const [j, to] of ports.entries()) {
      if (i === j) continue;
      const [a, b] = await Promise.all([
        connectFrom(from, attackerAddress(source++)),
        connectFrom(to, attackerAddress(source++)),
      ]);
      if (a === null || b === null) continue;
      sockets.push(a, b);
      a.on('data', (chunk: Buffer) => {
        relayed += chunk.length;
        if (!options.blackHole) b.write(chunk);
      });
      b.on('data', (chunk: Buffer) => {
        relayed += chunk.length;
        if (!options.blackHole) a.write(chunk);
      });
    }
  return {
    relayed: () => relayed,
    close: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * Dials `port` claiming to be `claimed` (a validator) with a key of the attacker's own, and
 * then, whatever the outcome, sends random bytes as if they were frames from `claimed`.
 * Returns the refusal code the attacker heard.
 */
export async function impersonate(options: {
  readonly port: number;
  readonly localAddress: string;
  readonly clusterId: string;
  readonly claimed: string;
  readonly target: string;
  readonly registry: ReadonlyMap<string, PublicKey>;
}): Promise<string> {
  const socket = await connectFrom(options.port, options.localAddress);
  if (socket === null) return 'refused';
  const keys = mlDsa87.generateKeyPair();
  const channel = new StreamHandshakeChannel(socket);
  const timer = setTimeout(() => channel.fail({ code: 'timeout', detail: 'attacker gave up' }), 5000);
  const outcome = await dialHandshake(channel, {
    scheme: mlDsa87,
    clusterId: options.clusterId,
    nodeId: options.claimed,
    privateKey: keys.privateKey,
    publicKeyOf: (id) => options.registry.get(id),
    instance: new Uint8Array(randomBytes(16)),
    ledger: new NonceLedger(),
    peer: options.target,
  });
  clearTimeout(timer);
  channel.detach();
  // Frames "from" the claimed validator: a length and bytes, several times.
  for (let i = 0; i < 8 && !socket.destroyed; i++) {
    const body = randomBytes(64 + i * 100);
    const frame = Buffer.alloc(4 + body.length);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, 4);
    socket.write(frame);
  }
  socket.destroy();
  return outcome.ok ? 'accepted' : outcome.refusal.code;
}

/** `count` connections to `port` that say nothing, spread over `addresses` source addresses. */
export async function idleConnections(
  port: number,
  count: number,
  addresses: number,
): Promise<{ open: () => number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const attempts = Array.from({ length: count }, (_, i) => connectFrom(port, attackerAddress(i % addresses)));
  for (const socket of await Promise.all(attempts)) if (socket !== null) sockets.push(socket);
  return {
    // The node closes what it does not admit: what is still open is what it holds for us.
    open: () => sockets.filter((socket) => !socket.destroyed && !socket.readableEnded).length,
    close: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** What a process holds now: open descriptors and resident memory in bytes (Linux /proc). */
export function processFootprint(pid: number): { readonly descriptors: number; readonly rssBytes: number } {
  const descriptors = fs.readdirSync(`/proc/${pid}/fd`).length;
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1] ?? 'NaN');
  return { descriptors, rssBytes: rssKb * 1024 };
}
