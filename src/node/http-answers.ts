/**
 * The HTTP API's bodies and answers: `ApiError` (an error answer, its code deciding the status),
 * reading a request body within its limit, writing JSON and error answers, and telling a client
 * that went away from a failure.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import { API_ERRORS, type ApiErrorCode } from '../client/api.ts';
import { CretoaiError } from '../errors.ts';

/** An error answer: its code decides the status. */
export class ApiError extends CretoaiError {
  readonly code: ApiErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  /** The body was not read to its end: close the connection after answering. */
  readonly closeConnection: boolean;

  constructor(
    code: ApiErrorCode,
    message: string,
    options: { headers?: Record<string, string>; closeConnection?: boolean } = {},
  ) {
    super(message);
    this.code = code;
    this.headers = options.headers ?? {};
    this.closeConnection = options.closeConnection ?? false;
  }
}

/** Error codes that only mean the client went away before it was answered. */
const CLIENT_GONE_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
]);

/** A body this much over the limit is not even read to its end: the connection is closed. */
const DISCARD_BYTES_MAX = 16 << 20;

/** Reads the body up to `max` bytes (`http.maxBodyBytes`); a longer one is refused with 413. */
export function readBody(request: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(request.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > max + DISCARD_BYTES_MAX) {
    request.resume();
    return Promise.reject(
      new ApiError('too-large', `the body is ${declared} bytes; at most ${max}`, { closeConnection: true }),
    );
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    request.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= max) chunks.push(chunk);
      else if (bytes > max + DISCARD_BYTES_MAX) {
        // Stop reading; the answer closes the connection.
        request.pause();
        reject(new ApiError('too-large', `the body exceeds ${max} bytes`, { closeConnection: true }));
      }
    });
    request.on('end', () => {
      if (bytes > max) reject(new ApiError('too-large', `the body is ${bytes} bytes; at most ${max}`));
      else resolve(Buffer.concat(chunks, bytes));
    });
    request.on('error', reject);
  });
}

/** Answers `status` with `body` as JSON. */
export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

/** Answers with `error`: `{ "error": { "code", "message" } }`, the status its code gives. */
export function sendError(response: ServerResponse, error: ApiError): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const headers: Record<string, string> = { ...error.headers };
  if (error.closeConnection) headers.connection = 'close';
  sendJson(
    response,
    API_ERRORS[error.code],
    { error: { code: error.code, message: error.message } },
    headers,
  );
  if (error.closeConnection) response.on('finish', () => response.socket?.destroy());
}

/** Whether a request failed because its client went away (an aborted body, a closed socket). */
export function clientGone(request: IncomingMessage, response: ServerResponse, error: unknown): boolean {
  if (error instanceof ApiError) return false;
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return (
    (code !== undefined && CLIENT_GONE_CODES.has(code)) || response.destroyed || request.socket.destroyed
  );
}
