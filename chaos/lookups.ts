/**
 * The lookups at the end of a run: `GET /v1/vertices/:hash` of every vertex that may have been
 * accepted, on every node. Each final answer carries its batch (every hash at that sequence, in
 * order) and the batch and chain digests; the batch is read once per sequence per node, which
 * also finds a vertex listed in the batches of two sequences.
 */
import type http from 'node:http';
import type { FinalVertexResponse } from '../src/client/api.ts';
import { CallError, callJson, makeAgent } from './http.ts';

/** What one node answered for one hash. */
export type LookupResult =
  | {
      readonly status: 'final';
      readonly sequence: number;
      readonly index: number;
      readonly view: number;
      /** Whether the answer's own batch lists this hash at `index`. */
      readonly batchAgrees: boolean;
    }
  | { readonly status: 'pending' | 'not-found' | 'rejected' | 'error'; readonly detail: string };

/** A finalized sequence as one node's lookups described it. */
export interface SequenceRecord {
  readonly batchDigest: string;
  readonly chainDigest: string;
  readonly view: number;
  readonly size: number;
}

/** Everything the lookups learned from one node. */
export interface NodeLookups {
  readonly results: Map<string, LookupResult>;
  readonly sequences: Map<number, SequenceRecord>;
  /** Every hash listed in a batch, and the sequences whose batches list it (more than one: listed twice). */
  readonly listedAt: Map<string, number[]>;
}

/** Lookups in flight per node. */
const CONCURRENCY_PER_NODE = 16;
const LOOKUP_TIMEOUT_MS = 10_000;
const LOOKUP_ATTEMPTS = 3;

async function lookUp(agent: http.Agent, url: string, hash: string, lookups: NodeLookups): Promise<void> {
  let lastError = '';
  for (let attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
    try {
      const answer = await callJson(agent, `${url}/v1/vertices/${hash}`, { timeoutMs: LOOKUP_TIMEOUT_MS });
      const body = answer.body as { status?: string; error?: { code?: string } } | null;
      if (answer.status === 404) {
        lookups.results.set(hash, { status: 'not-found', detail: body?.error?.code ?? '404' });
        return;
      }
      if (answer.status !== 200 || body === null) {
        lastError = `status ${answer.status}`;
        continue;
      }
      if (body.status === 'final') {
        const final = body as FinalVertexResponse;
        lookups.results.set(hash, {
          status: 'final',
          sequence: final.sequence,
          index: final.index,
          view: final.view,
          batchAgrees: final.batch[final.index] === hash,
        });
        if (!lookups.sequences.has(final.sequence)) {
          lookups.sequences.set(final.sequence, {
            batchDigest: final.batchDigest,
            chainDigest: final.chainDigest,
            view: final.view,
            size: final.batch.length,
          });
          for (const listed of final.batch) {
            const at = lookups.listedAt.get(listed);
            if (at === undefined) lookups.listedAt.set(listed, [final.sequence]);
            else at.push(final.sequence);
          }
        }
        return;
      }
      if (body.status === 'pending' || body.status === 'rejected') {
        lookups.results.set(hash, { status: body.status, detail: JSON.stringify(body) });
        return;
      }
      lastError = `unexpected answer ${JSON.stringify(body).slice(0, 200)}`;
    } catch (error) {
      lastError = error instanceof CallError ? `${error.kind}: ${error.message}` : String(error);
    }
  }
  lookups.results.set(hash, { status: 'error', detail: lastError });
}

/**
 * Looks up every hash on every node, the nodes in parallel; `onProgress` sees the count done.
 * Rejects with the signal's reason once it is aborted.
 */
export async function lookUpEverywhere(
  urls: readonly string[],
  hashes: readonly string[],
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<NodeLookups[]> {
  const agent = makeAgent(CONCURRENCY_PER_NODE);
  const total = hashes.length * urls.length;
  let done = 0;
  try {
    return await Promise.all(
      urls.map(async (url) => {
        const lookups: NodeLookups = { results: new Map(), sequences: new Map(), listedAt: new Map() };
        let next = 0;
        const worker = async (): Promise<void> => {
          while (next < hashes.length) {
            signal?.throwIfAborted();
            const hash = hashes[next++]!;
            await lookUp(agent, url, hash, lookups);
            done++;
            if (done % 5000 === 0) onProgress?.(done, total);
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY_PER_NODE }, worker));
        return lookups;
      }),
    );
  } finally {
    agent.destroy();
  }
}
