/**
 * The client's errors: one class with a `code` to branch on (tests and programs never parse the
 * message). Transport trouble, a node's refusal, a busy node, a timeout and a proof that does
 * not check out are different things to a caller, so each has its own code.
 */

/** Every reason a client call fails, listed once so that {@link BftClientErrorCode} derives from it. */
export const BFT_CLIENT_ERROR_CODES = Object.freeze([
  // No node could be reached (connection refused, reset, DNS failure, request timeout).
  'unreachable',
  // A node refused the request for what it is (4xx other than 429): retrying will not help.
  'rejected',
  // Every node asked is full (429): retry after `retryAfterMs`.
  'busy',
  // The vertex did not become final within the time allowed.
  'timeout',
  // The vertex did not become final within the time allowed, and the nodes the client reaches
  // report too few validators reachable for a quorum: nothing can be finalized until they are.
  'no-quorum',
  // A node answered with a commit certificate that does not prove what it claims.
  'invalid-certificate',
  // Nodes report the vertex final at different places: more than f of them are lying.
  'conflict',
  // A node answered with something that is not the API's shape (or a hash other than the vertex's).
  'bad-response',
  // The client was used in a way that cannot work (no nodes, certificates without public keys).
  'misuse',
] as const);

/** Why a client call failed; see {@link BFT_CLIENT_ERROR_CODES}. */
export type BftClientErrorCode = (typeof BFT_CLIENT_ERROR_CODES)[number];

/** A failed client call. `code` says why; `status` and `apiCode` carry a node's HTTP answer. */
export class BftClientError extends Error {
  override readonly name = 'BftClientError';
  readonly code: BftClientErrorCode;
  /** The HTTP status of the node's answer, when there was one. */
  readonly status: number | undefined;
  /** The node's own error code (`error.code` of the API's error body), when it gave one. */
  readonly apiCode: string | undefined;
  /** For 'busy': how long the node asked the client to wait, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: BftClientErrorCode,
    message: string,
    details: {
      readonly status?: number;
      readonly apiCode?: string;
      readonly retryAfterMs?: number;
      readonly cause?: unknown;
    } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.status = details.status;
    this.apiCode = details.apiCode;
    this.retryAfterMs = details.retryAfterMs;
  }
}
