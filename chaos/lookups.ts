/**
 * The lookups at the end of a run: `GET /v1/vertices/:hash` of every vertex that may have been
 * accepted, on every node. Each final answer carries its batch (every hash at that sequence, in
 * order) and the batch and chain digests; the batch is read once per sequence per node, which
 * also finds a vertex listed in the batches of two sequences.
 */
import type http from 'node:http';
import type { FinalVertexLocation, FinalVertexResponse } from '../src/client/api.ts';
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

/** A final vertex's place as `?proof=0` answers it, before its batch was read. */
interface Located {
  readonly sequence: number;
  readonly index: number;
  readonly view: number;
  readonly batchDigest: string;
  readonly chainDigest: string;
}

type Answer = { readonly located: Located } | { readonly other: LookupResult };

/** One lookup, retried on transport errors and unexpected answers. */
async function lookUp(agent: http.Agent, url: string, hash: string, withProof: boolean): Promise<Answer> {
  let lastError = '';
  for (let attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
    try {
      const target = `${url}/v1/vertices/${hash}${withProof ? '' : '?proof=0'}`;
      const answer = await callJson(agent, target, { timeoutMs: LOOKUP_TIMEOUT_MS });
      const body = answer.body as { status?: string; error?: { code?: string } } | null;
      if (answer.status === 404)
        return { other: { status: 'not-found', detail: body?.error?.code ?? '404' } };
      if (answer.status !== 200 || body === null) {
        lastError = `status ${answer.status}`;
        continue;
      }
      if (body.status === 'final') return { located: body as FinalVertexLocation };
      if (body.status === 'pending' || body.status === 'rejected') {
        return { other: { status: body.status, detail: JSON.stringify(body) } };
      }
      lastError = `unexpected answer ${JSON.stringify(body).slice(0, 200)}`;
    } catch (error) {
      lastError = error instanceof CallError ? `${error.kind}: ${error.message}` : String(error);
    }
  }
  return { other: { status: 'error', detail: lastError } };
}

/** The batch (its hashes in order) of the sequence a final vertex is at, from one full lookup. */
async function batchOf(agent: http.Agent, url: string, hash: string): Promise<readonly string[] | null> {
  for (let attempt = 0; attempt < LOOKUP_ATTEMPTS; attempt++) {
    try {
      const answer = await callJson(agent, `${url}/v1/vertices/${hash}`, { timeoutMs: LOOKUP_TIMEOUT_MS });
      const body = answer.body as FinalVertexResponse | null;
      if (answer.status === 200 && body?.status === 'final') return body.batch;
    } catch (error) {
      if (!(error instanceof CallError)) throw error;
    }
  }
  return null;
}

/** Runs `work` on every item with `concurrency` in flight. */
async function eachLimited<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal?.throwIfAborted();
      await work(items[next++]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * Looks up every hash on every node, the nodes in parallel; `onProgress` sees the count done.
 * Each hash is located with `?proof=0`, then each node's batch at every sequence found is read
 * once, in full: the answers with a proof carry the whole batch and certificate, and reading
 * one per vertex took over an hour for a 10-minute run. Rejects with the signal's reason once
 * it is aborted.
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
        const located = new Map<string, Located>();
        const lookups: NodeLookups = { results: new Map(), sequences: new Map(), listedAt: new Map() };
        await eachLimited(
          hashes,
          CONCURRENCY_PER_NODE,
          async (hash) => {
            const answer = await lookUp(agent, url, hash, false);
            if ('located' in answer) located.set(hash, answer.located);
            else lookups.results.set(hash, answer.other);
            done++;
            if (done % 5000 === 0) onProgress?.(done, total);
          },
          signal,
        );
        // One vertex per sequence names the batch to read.
        const named = new Map<number, string>();
        for (const [hash, place] of located) if (!named.has(place.sequence)) named.set(place.sequence, hash);
        const batches = new Map<number, readonly string[] | null>();
        await eachLimited(
          [...named],
          CONCURRENCY_PER_NODE,
          async ([sequence, hash]) => {
            batches.set(sequence, await batchOf(agent, url, hash));
          },
          signal,
        );
        for (const [sequence, batch] of [...batches].sort((a, b) => a[0] - b[0])) {
          const place = located.get(named.get(sequence)!)!;
          lookups.sequences.set(sequence, {
            batchDigest: place.batchDigest,
            chainDigest: place.chainDigest,
            view: place.view,
            size: batch?.length ?? 0,
          });
          for (const listed of batch ?? []) {
            const at = lookups.listedAt.get(listed);
            if (at === undefined) lookups.listedAt.set(listed, [sequence]);
            else at.push(sequence);
          }
        }
        for (const [hash, place] of located) {
          lookups.results.set(hash, {
            status: 'final',
            sequence: place.sequence,
            index: place.index,
            view: place.view,
            // A batch that could not be read agrees with nothing: the check reports it.
            batchAgrees: batches.get(place.sequence)?.[place.index] === hash,
          });
        }
        return lookups;
      }),
    );
  } finally {
    agent.destroy();
  }
}
