/**
 * `GET /v1/vertices/:hash`: where a vertex stands (final, pending, refused), and for a final
 * one its proof, the batch's hashes and commit certificate, from a small cache or the store.
 */
import type { ServerResponse } from 'node:http';
import { base64, digestFromHex, type FinalVertexLocation, type FinalVertexResponse } from '../client/api.ts';
import { toHex } from '../crypto/index.ts';
import { vertexKey } from '../protocol/index.ts';
import { encodeMessage } from '../wire/index.ts';
import { ApiError, sendJson } from './http-answers.ts';
import type { HttpApiContext } from './http-api.ts';
import type { RejectedVertex } from './http-submit.ts';

/** The values `?proof=` takes on a lookup. */
const PROOF_PARAM: ReadonlySet<string> = new Set(['0', '1', 'false', 'true']);
/** Finalized batches whose hashes and certificate are kept ready for lookups. */
const PROOF_CACHE_MAX = 256;

interface BatchProof {
  readonly batch: readonly string[];
  readonly commits: readonly string[];
}

/** Answers lookups of vertices, keeping the proofs of recent batches ready. */
export class VertexLookups {
  readonly #context: Pick<HttpApiContext, 'engine' | 'store'>;
  readonly #rejectedOf: (hash: string) => RejectedVertex | undefined;
  readonly #proofs = new Map<number, BatchProof>();

  /** `rejectedOf` names the vertices refused after they were accepted (`Submissions`). */
  constructor(
    context: Pick<HttpApiContext, 'engine' | 'store'>,
    rejectedOf: (hash: string) => RejectedVertex | undefined,
  ) {
    this.#context = context;
    this.#rejectedOf = rejectedOf;
  }

  /**
   * `GET /v1/vertices/:hash`. A final vertex comes with its proof (its batch's hashes and the
   * commit certificate, tens to hundreds of KB) unless `?proof=0` asks only where it is: a
   * checker that looks up every vertex needs each batch once, not once per vertex.
   */
  answer(response: ServerResponse, hashText: string, url: URL): void {
    const digest = digestFromHex(hashText);
    if (digest === null) throw new ApiError('bad-encoding', `${hashText} is not a 64-hex-digit hash`);
    const proofParam = url.searchParams.get('proof');
    if (proofParam !== null && !PROOF_PARAM.has(proofParam)) {
      throw new ApiError(
        'bad-request',
        `proof must be 0, 1, false or true, got ${JSON.stringify(proofParam)}`,
      );
    }
    const withProof = proofParam === null || proofParam === '1' || proofParam === 'true';
    const hash = toHex(digest);
    const found = this.finalVertex(digest, withProof);
    if (found !== undefined) {
      sendJson(response, 200, found);
      return;
    }
    if (this.#context.engine.holds(hash)) {
      sendJson(response, 200, { hash, status: 'pending' });
      return;
    }
    const rejected = this.#rejectedOf(hash);
    if (rejected !== undefined) {
      sendJson(response, 200, { hash, status: 'rejected', ...rejected });
      return;
    }
    throw new ApiError(
      'not-found',
      `this node knows of no vertex ${hash} (not submitted here, not final here)`,
    );
  }

  /**
   * Where the vertex `digest` is final, with its proof (its batch's hashes and certificate) when
   * `withProof`; undefined when it is not final here.
   */
  finalVertex(digest: Uint8Array, withProof: true): FinalVertexResponse | undefined;
  finalVertex(digest: Uint8Array, withProof: boolean): FinalVertexLocation | undefined;
  finalVertex(digest: Uint8Array, withProof: boolean): FinalVertexLocation | undefined {
    const found = this.#context.store.vertex(digest);
    if (found === undefined) return undefined;
    const located: FinalVertexLocation = {
      hash: toHex(digest),
      status: 'final',
      clusterId: this.#context.engine.config.clusterId,
      sequence: found.sequence,
      index: found.index,
      view: found.view,
      batchDigest: toHex(found.batchDigest),
      chainDigest: toHex(found.chainDigest),
    };
    if (!withProof) return located;
    const proof = this.#proofOf(found.sequence);
    const answer: FinalVertexResponse = { ...located, batch: proof.batch, commits: proof.commits };
    return answer;
  }

  /** The batch's hashes and certificate at `sequence`, from a small cache or the store. */
  #proofOf(sequence: number): BatchProof {
    const cached = this.#proofs.get(sequence);
    if (cached !== undefined) return cached;
    const record = this.#context.store.finalizedAt(sequence);
    if (record === undefined) throw new ApiError('internal', `the batch at sequence ${sequence} is gone`);
    const proof: BatchProof = {
      batch: record.batch.map(vertexKey),
      commits: record.commits.map((commit) => base64(encodeMessage(commit))),
    };
    this.#proofs.set(sequence, proof);
    if (this.#proofs.size > PROOF_CACHE_MAX) this.#proofs.delete(this.#proofs.keys().next().value!);
    return proof;
  }
}
