/**
 * Per-peer send queues: bounded by frames and by bytes, filled only behind a socket that
 * signalled backpressure, and emptied oldest-first when full (every drop counted).
 */
import assert from 'node:assert/strict';
import type * as net from 'node:net';
import { after, describe, it } from 'node:test';
import type { RecordOpener } from '../../src/transport/channel-crypto.ts';
import { ClusterDiscovery } from '../../src/transport/discovery.ts';
import { TcpTransport } from '../../src/transport/tcp.ts';
import { FrameDecoder } from '../../src/wire/frame.ts';
import { CLUSTER_ID, next, numberedFrame, rawPeer, sequenceOf, validatorKeys } from './tcp-support.ts';

const FRAME_BYTES = 4700;
/** A queue holds frames in the clear: they are sealed as they leave. */
const QUEUED_BYTES = FRAME_BYTES;

/**
 * Reads `count` frames from a raw peer's socket (resuming it), opening each with the session's
 * opener, and returns their sequence numbers.
 */
function readFrames(
  socket: net.Socket,
  rest: Uint8Array,
  opener: RecordOpener,
  count: number,
): Promise<number[]> {
  const decoder = new FrameDecoder(1 << 20);
  const sequences: number[] = [];
  return new Promise((resolve, reject) => {
    const take = (chunk: Uint8Array): void => {
      const result = decoder.push(chunk);
      if (!result.ok) {
        reject(new Error(result.error.detail));
        return;
      }
      for (const record of result.frames) {
        const frame = opener.open(record);
        if (frame === null) {
          reject(new Error('a record did not open'));
          return;
        }
        sequences.push(sequenceOf(frame));
      }
      if (sequences.length >= count) {
        socket.off('data', take);
        resolve(sequences);
      }
    };
    socket.on('data', take);
    if (rest.length > 0) take(rest);
    socket.resume();
  });
}

describe('TcpTransport send queue', { timeout: 60_000 }, () => {
  const { keys, registry } = validatorKeys(['a', 'b']);
  const transports: TcpTransport[] = [];
  const sockets: net.Socket[] = [];
  after(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(transports.map((transport) => transport.stop()));
  });

  /** Transport a, and a raw peer b that authenticates and then does not read. */
  async function stalledPeer(bounds: { sendQueueFramesMax: number; sendQueueBytesMax: number }) {
    const a = new TcpTransport({
      nodeId: 'a',
      clusterId: CLUSTER_ID,
      privateKey: keys.get('a')!.privateKey,
      validators: registry,
      discovery: new ClusterDiscovery(),
      listen: { host: '127.0.0.1', port: 0 },
      maxFrameBytes: 1 << 20,
      ...bounds,
    });
    transports.push(a);
    const connected = next(a, 'peer-connected');
    await a.start();
    const peer = await rawPeer({
      port: (await a.listen()).port,
      nodeId: 'b',
      keyPair: keys.get('b')!,
      registry,
      peer: 'a',
    });
    sockets.push(peer.socket);
    assert.equal(peer.outcome.ok, true);
    await connected;
    return { a, ...peer };
  }

  for (const [name, bounds, held] of [
    ['frames', { sendQueueFramesMax: 16, sendQueueBytesMax: 64 << 20 }, 16],
    ['bytes', { sendQueueFramesMax: 10_000, sendQueueBytesMax: 12 * QUEUED_BYTES + 100 }, 12],
  ] as const) {
    it(`bounds the queue by ${name}, drops the oldest frames, and counts every drop`, async () => {
      const { a, socket, rest, outcome } = await stalledPeer(bounds);
      assert.ok(outcome.ok);
      const total = 2000;
      // One synchronous burst: the socket takes frames until write() returns false, the queue
      // takes the rest up to its bound, and each frame beyond evicts the oldest queued one.
      for (let sequence = 0; sequence < total; sequence++) a.send('b', numberedFrame(sequence, FRAME_BYTES));
      const stats = a.stats();
      const written = stats.framesSent;
      assert.ok(written > 0 && written < total - held, `written ${written}`);
      assert.equal(a.peerInfo('b')!.queuedFrames, held);
      assert.equal(stats.sendQueueFramesPeak, held);
      assert.equal(stats.framesDropped['queue-full'], total - written - held);
      // The peer reads again: the socket drains, then the queue, oldest first.
      const sequences = await readFrames(socket, rest, outcome.opener, written + held);
      const expected = [
        ...Array.from({ length: written }, (_, i) => i),
        ...Array.from({ length: held }, (_, i) => total - held + i),
      ];
      assert.deepEqual(sequences, expected);
      assert.equal(a.stats().framesSent, written + held);
      assert.equal(a.peerInfo('b')!.queuedFrames, 0);
    });
  }

  it('drops the queue when the connection closes, counting the frames as disconnected', async () => {
    const { a, socket } = await stalledPeer({ sendQueueFramesMax: 5000, sendQueueBytesMax: 64 << 20 });
    // 23.5 MB: more than the kernel's loopback buffers hold for a peer that does not read.
    const total = 5000;
    for (let sequence = 0; sequence < total; sequence++) a.send('b', numberedFrame(sequence, FRAME_BYTES));
    assert.ok(a.peerInfo('b')!.queuedFrames > 0);
    const lost = next(a, 'peer-disconnected');
    socket.destroy();
    await lost;
    const stats = a.stats();
    assert.ok(stats.framesDropped.disconnected > 0);
    // Every frame was either handed to the socket or dropped with a reason.
    assert.equal(
      stats.framesSent + stats.framesDropped['queue-full'] + stats.framesDropped.disconnected,
      total,
    );
    a.send('b', numberedFrame(0, FRAME_BYTES));
    assert.equal(a.stats().framesDropped.unreachable, 1);
  });
});
