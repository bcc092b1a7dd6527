/**
 * A put to a cretoai node for the closed-loop runner of `npm run bench:compare`: one vertex per
 * `POST /v1/vertices`, done when the node's `GET /v1/events` stream reports it final.
 *
 * The client chooses the vertex's validThrough and so computes its hash before sending: the
 * finality event may come before the 202 answer, and a vertex is waited for from before it is
 * sent, so that no event is missed.
 */
import type http from 'node:http';
import { openEventStream } from '../src/cli/load.ts';
import { base64 } from '../src/client/api.ts';
import { BftClient } from '../src/client/client.ts';
import { toHex } from '../src/crypto/index.ts';
import { createVertex } from '../src/protocol/index.ts';
import type { PutFunction } from './closed-loop.ts';
import { postJson } from './http-json.ts';

/** Options of {@link openCretoaiPut}. */
export interface CretoaiPutOptions {
  /** The node's API base URL: vertices are submitted to it, and its event stream decides finality. */
  readonly node: string;
  readonly agent: http.Agent;
  /** The payload of caller `client`'s `request`-th vertex: no two may be alike. */
  readonly payloadOf: (client: number, request: number) => Uint8Array;
  /** How long a vertex may take to become final before its put fails. Default 30,000 ms. */
  readonly finalTimeoutMs?: number;
}

/** A put function and the event stream it listens on; `close` ends the stream. */
export interface CretoaiPut {
  readonly put: PutFunction;
  close(): void;
}

/** Opens the node's event stream and returns a put function over it. */
export async function openCretoaiPut(options: CretoaiPutOptions): Promise<CretoaiPut> {
  const { node, agent, payloadOf } = options;
  const finalTimeoutMs = options.finalTimeoutMs ?? 30_000;
  const status = await new BftClient({ nodes: [node] }).status(node);
  const horizon = status.dedupHorizonSequences;
  let latestSequence = status.sequence;
  /** Vertices sent or about to be, by hash: what to call when each is final. */
  const waiting = new Map<string, () => void>();
  const stream = await openEventStream(node, (hash, sequence) => {
    if (sequence > latestSequence) latestSequence = sequence;
    waiting.get(hash)?.();
  });
  const url = `${node}/v1/vertices`;

  const put: PutFunction = async (client, request) => {
    const payload = payloadOf(client, request);
    // Half the horizon past the latest final sequence, as `cretoai-node bench` chooses.
    const validThrough = latestSequence + Math.max(1, Math.floor(horizon / 2));
    const hash = toHex(createVertex(payload, { validThrough }).hash);
    const { promise: final, resolve } = Promise.withResolvers<void>();
    waiting.set(hash, resolve);
    let timer: NodeJS.Timeout | undefined;
    try {
      const answer = await postJson(url, { payload: base64(payload), validThrough }, agent);
      if (answer.status !== 202)
        throw new Error(`${node} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const why = stream.ended ? ' (the event stream closed)' : '';
          reject(new Error(`vertex ${hash} was not final within ${finalTimeoutMs} ms${why}`));
        }, finalTimeoutMs);
      });
      await Promise.race([final, late]);
    } finally {
      clearTimeout(timer);
      waiting.delete(hash);
    }
  };
  return { put, close: () => stream.close() };
}
