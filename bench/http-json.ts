/**
 * The one HTTP/JSON client of `npm run bench:compare`: both systems are driven through it, with
 * the same keep-alive agent settings, so that neither pays for a client the other does not.
 */
import http from 'node:http';

/** An answer: its status and its body parsed as JSON (null when the body is empty). */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * A keep-alive agent with up to `socketsMax` connections: one per closed-loop caller, so that
 * no request waits in the client for a connection.
 */
export function jsonAgent(socketsMax: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: socketsMax });
}

/**
 * Sends `body` as JSON to `url` (POST) and resolves with the answer, whatever its status.
 *
 * @throws Error when the connection fails, the answer is not JSON, or no answer came within
 *   `timeoutMs` (the request is then aborted).
 */
export function postJson(
  url: string,
  body: unknown,
  agent: http.Agent,
  timeoutMs = 30_000,
): Promise<JsonAnswer> {
  const text = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const answer = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ status: response.statusCode ?? 0, body: answer === '' ? null : JSON.parse(answer) });
          } catch {
            reject(new Error(`${url} answered ${response.statusCode} with a body that is not JSON`));
          }
        });
        response.on('error', reject);
      },
    );
    request.on('timeout', () => request.destroy(new Error(`${url} did not answer within ${timeoutMs} ms`)));
    request.on('error', reject);
    request.end(text);
  });
}
