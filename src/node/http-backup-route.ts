/**
 * `POST /v1/admin/backup`: the admin route that writes a consistent snapshot of the store to a
 * directory the caller names, after checking that directory in a child process.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ApiErrorCode } from '../client/api.ts';
import { BackupTargetError, type BackupTargetErrorCode, checkBackupTargetIsolated } from './backup-target.ts';
import { ApiError, clientGone, readBody, sendJson } from './http-answers.ts';
import type { HttpApiContext } from './http-api.ts';
import { exemptFromIdleTimeout } from './http-limits.ts';

/** How a refused backup target is answered. */
const BACKUP_TARGET_ANSWERS: { readonly [K in BackupTargetErrorCode]: ApiErrorCode } = Object.freeze({
  'not-absolute': 'backup-path-not-absolute',
  system: 'backup-path-system',
  'inside-data-dir': 'backup-path-in-data-dir',
  'not-empty': 'backup-path-not-empty',
  'not-directory': 'backup-path-not-directory',
  unusable: 'backup-path-unusable',
  timeout: 'backup-timeout',
});

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/** Takes backups on request, one at a time. */
export class BackupRoute {
  readonly #context: Pick<HttpApiContext, 'settings' | 'store' | 'logger'>;
  readonly #accepting: () => boolean;
  /** A backup is being taken: one at a time, since each holds a child process and a copy. */
  #running = false;

  /** `accepting` says whether the node still takes requests that change things (503 once not). */
  constructor(context: Pick<HttpApiContext, 'settings' | 'store' | 'logger'>, accepting: () => boolean) {
    this.#context = context;
    this.#accepting = accepting;
  }

  /**
   * `POST /v1/admin/backup`: a consistent snapshot of the store to `out`, which must be an
   * absolute path to a new or empty directory outside the data directory and outside /proc,
   * /sys and /dev (`backup-target.ts`). The path is checked, and its directories made, in a
   * child process that is killed if the file system does not answer within
   * `http.backupCheckTimeoutMs` (503): a request's path never makes the node wait on a file
   * system call. One backup at a time (409).
   */
  async take(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { settings, store, logger } = this.#context;
    if (!settings.http.admin) throw new ApiError('not-found', 'admin routes are off (http.admin)');
    if (!LOOPBACK.test(request.socket.remoteAddress ?? '')) {
      throw new ApiError('forbidden', 'admin routes answer loopback callers only');
    }
    if (!this.#accepting()) throw new ApiError('unavailable', 'the node is shutting down');
    let json: unknown;
    try {
      json = JSON.parse((await readBody(request, settings.http.maxBodyBytes)).toString('utf8'));
    } catch (error) {
      if (error instanceof ApiError || clientGone(request, response, error)) throw error;
      throw new ApiError('bad-request', 'the body must be JSON: { "out": "/absolute/directory" }');
    }
    const out = (json as { out?: unknown } | null)?.out;
    if (typeof out !== 'string') {
      throw new ApiError(
        'bad-request',
        '"out" must be a string: the absolute path of a new or empty directory',
      );
    }
    if (this.#running) {
      throw new ApiError('backup-running', 'another backup is being taken; try again when it is done');
    }
    this.#running = true;
    try {
      // Checking the path and copying a large store take a while with nothing sent.
      exemptFromIdleTimeout(request);
      const target = await checkBackupTargetIsolated(
        { out, dataDir: settings.dataDir, create: true },
        { timeoutMs: settings.http.backupCheckTimeoutMs },
      );
      const manifest = await store.backup(target);
      logger.info('backup-written', { out, target, lastFinalized: manifest.lastFinalized });
      sendJson(response, 200, { out, ...manifest });
    } catch (error) {
      if (error instanceof BackupTargetError)
        throw new ApiError(BACKUP_TARGET_ANSWERS[error.code], error.message);
      // The directory filled up between the check and the copy.
      if ((error as Error).name === 'StoreInUseError')
        throw new ApiError('backup-path-not-empty', (error as Error).message);
      throw error;
    } finally {
      this.#running = false;
    }
  }
}
