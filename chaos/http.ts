/**
 * The harness's HTTP calls to the nodes: JSON in, JSON out, each with a deadline, over
 * keep-alive agents. Submissions, status samples and lookups use separate agents, so that a
 * stopped node's submissions, which hang until it continues, never hold up a status sample
 * or a lookup of another kind.
 */
import http from 'node:http';

/** An answer: the status and the parsed JSON body (null when empty or not JSON). */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A failed call, sorted by what it says about the request reaching the node. */
export class CallError extends Error {
  override readonly name = 'CallError';
  /**
   * 'refused': the connection was refused, so the node never saw the request;
   * 'timeout': no answer within the deadline; 'broken': the connection failed mid-way.
   */
  readonly kind: 'refused' | 'timeout' | 'broken';

  constructor(kind: 'refused' | 'timeout' | 'broken', message: string, options?: ErrorOptions) {
    super(message, options);
    this.kind = kind;
  }
}

/** Makes a keep-alive agent with at most `socketsPerNodeMax` sockets to each node. */
export function makeAgent(socketsPerNodeMax: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: socketsPerNodeMax });
}

/** One JSON call; rejects with a {@link CallError}. */
export function callJson(
  agent: http.Agent,
  url: string,
  options: { readonly method?: string; readonly body?: unknown; readonly timeoutMs: number },
): Promise<JsonAnswer> {
  return new Promise((resolve, reject) => {
    const text = options.body === undefined ? undefined : JSON.stringify(options.body);
    const signal = AbortSignal.timeout(options.timeoutMs);
    const request = http.request(
      url,
      {
        method: options.method ?? 'GET',
        agent,
        signal,
        headers:
          text === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          let body: unknown = null;
          if (raw.length > 0) {
            try {
              body = JSON.parse(raw);
            } catch {
              body = null;
            }
          }
          resolve({ status: response.statusCode ?? 0, body });
        });
        response.on('error', (error) => reject(classify(error, signal)));
      },
    );
    request.on('error', (error) => reject(classify(error, signal)));
    request.end(text);
  });
}

function classify(error: Error, signal: AbortSignal): CallError {
  if (signal.aborted) return new CallError('timeout', 'no answer in time', { cause: error });
  if ((error as NodeJS.ErrnoException).code === 'ECONNREFUSED')
    return new CallError('refused', 'connection refused', { cause: error });
  return new CallError('broken', error.message, { cause: error });
}
