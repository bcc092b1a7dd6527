/**
 * The status page's files (`status-page/`: plain HTML, an ES module and a style sheet; no build
 * step, nothing fetched from anywhere but the node itself), served by the HTTP API at `/` and
 * under `/status-page/`. Each file is read on first request and kept: they are a few kilobytes.
 *
 * The page runs under `default-src 'self'`: no inline script or style, no other origin, so that
 * even a payload or node name crafted to look like markup can only ever be text.
 */
import fs from 'node:fs/promises';
import type { ServerResponse } from 'node:http';

/** The request paths served, with the file and its content type. Nothing else is read. */
export const STATUS_PAGE_FILES: Readonly<Record<string, { readonly file: string; readonly type: string }>> =
  Object.freeze({
    '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
    '/status-page/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
    '/status-page/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
    '/status-page/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
  });

/** The Content-Security-Policy of every status page answer. */
export const STATUS_PAGE_CSP =
  "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Where the files are: next to this module, in the source tree and in the build alike. */
const DIRECTORY = new URL('./status-page/', import.meta.url);

export class StatusPage {
  readonly #cache = new Map<string, Promise<Buffer>>();

  /** Whether `pathname` is one of the page's files. */
  has(pathname: string): boolean {
    return Object.hasOwn(STATUS_PAGE_FILES, pathname);
  }

  /**
   * Answers with the file for `pathname` (one {@link has} accepted).
   *
   * @throws the read error (ENOENT when the files were not installed with the node).
   */
  async serve(pathname: string, response: ServerResponse): Promise<void> {
    const { file, type } = STATUS_PAGE_FILES[pathname]!;
    let read = this.#cache.get(file);
    if (read === undefined) {
      read = fs.readFile(new URL(file, DIRECTORY));
      this.#cache.set(file, read);
      // A failed read is not kept: the next request tries again.
      read.catch(() => this.#cache.delete(file));
    }
    const body = await read;
    response.writeHead(200, {
      'content-type': type,
      'content-length': body.length,
      'content-security-policy': STATUS_PAGE_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cache-control': 'no-cache',
    });
    response.end(body);
  }
}
