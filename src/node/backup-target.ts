/**
 * Where a backup may be written: the rules shared by `POST /v1/admin/backup` and `cretoai-node
 * backup` on a stopped node, so that the two cannot drift.
 *
 * A target is an absolute path to a new or empty directory, outside the node's data directory
 * (a backup inside the live store would be copied into itself and deleted with it) and outside
 * /proc, /sys and /dev (pseudo file systems where a directory cannot be made, and where Node's
 * recursive mkdir never returned). Both rules hold for the path as written, with `..` resolved,
 * and for the real path, with the symbolic links of its existing part resolved. Directories
 * that do not exist yet are made one at a time (never `mkdir -p`, which loops forever on
 * /proc), at most {@link NEW_DIRECTORIES_MAX} of them.
 *
 * The node never makes these checks itself: the path comes from a request, and a file system
 * call on it may never return (a hung network or FUSE mount). On the event loop that would stop
 * the node; on libuv's thread pool it would hold a thread that Node joins at exit, so that the
 * process could no longer exit, not even on SIGTERM. {@link checkBackupTargetIsolated} makes
 * them in a child process instead, which is killed when it does not answer in time.
 */

import { fork } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { CretoaiError } from '../errors.ts';
import { type Clock, systemClock } from '../shell/clock.ts';

/** Why a target is refused, or was not checked. */
export const BACKUP_TARGET_ERROR_CODES = Object.freeze([
  // Not an absolute path (or not a path at all: empty, or with a NUL byte).
  'not-absolute',
  // Under /proc, /sys or /dev, as written or once its symbolic links are resolved.
  'system',
  // The node's data directory or under it, as written or once resolved.
  'inside-data-dir',
  // An existing directory that holds something.
  'not-empty',
  // It, or one of its parents, exists and is not a directory.
  'not-directory',
  // The file system refused (no permission to write, too long, a dangling link, too many new
  // levels).
  'unusable',
  // The file system did not answer in time; nothing was written.
  'timeout',
] as const);
export type BackupTargetErrorCode = (typeof BACKUP_TARGET_ERROR_CODES)[number];

/** A refused backup target; `code` says which rule. */
export class BackupTargetError extends CretoaiError {
  override readonly name = 'BackupTargetError';
  readonly code: BackupTargetErrorCode;
  readonly target: string;

  constructor(code: BackupTargetErrorCode, target: string, message: string) {
    super(message);
    this.code = code;
    this.target = target;
  }
}

/** Directories a target may add below its deepest existing parent. */
export const NEW_DIRECTORIES_MAX = 16;
/** Linux's PATH_MAX: a longer path cannot be opened anyway. */
const PATH_BYTES_MAX = 4096;
/** Pseudo file systems no backup belongs in. */
const SYSTEM_ROOTS = Object.freeze(['/proc', '/sys', '/dev']);

function isWithin(child: string, parent: string): boolean {
  const relative = path.relative(parent, child);
  return (
    relative === '' ||
    !(relative === '..' || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative))
  );
}

/**
 * The checks that need no file system: absolute, not under /proc, /sys or /dev, not inside the
 * data directory. Returns the path with `..` resolved.
 *
 * @throws BackupTargetError
 */
export function checkBackupPath(out: string, dataDir: string): string {
  // Quoted and cut short in messages: it is a request's input, of any length and bytes.
  const shown = JSON.stringify(out.length > 256 ? `${out.slice(0, 256)}...` : out);
  if (out.length === 0 || out.includes('\0') || !path.isAbsolute(out)) {
    throw new BackupTargetError(
      'not-absolute',
      out,
      `${shown} is not an absolute path: a backup goes to an absolute path of a new or empty directory`,
    );
  }
  if (Buffer.byteLength(out) > PATH_BYTES_MAX) {
    throw new BackupTargetError('unusable', out, `${shown} is longer than ${PATH_BYTES_MAX} bytes`);
  }
  const resolved = path.resolve(out);
  refuseSystemOrData(out, resolved, [path.resolve(dataDir)]);
  return resolved;
}

function refuseSystemOrData(out: string, candidate: string, dataDirs: readonly string[]): void {
  const root = SYSTEM_ROOTS.find((system) => isWithin(candidate, system));
  if (root !== undefined) {
    throw new BackupTargetError(
      'system',
      out,
      `${out}${candidate === out ? '' : ` (${candidate})`} is under ${root}: a backup goes to a real file system`,
    );
  }
  if (dataDirs.some((dataDir) => isWithin(candidate, dataDir))) {
    throw new BackupTargetError(
      'inside-data-dir',
      out,
      `${out}${candidate === out ? '' : ` (${candidate})`} is inside the node's data directory ${dataDirs[0]}: a backup must be outside the live store`,
    );
  }
}

function unusable(out: string, error: unknown, doing: string): BackupTargetError {
  const code = (error as NodeJS.ErrnoException).code ?? String(error);
  if (code === 'ENOTDIR') {
    return new BackupTargetError('not-directory', out, `${out}: a parent directory is not a directory`);
  }
  return new BackupTargetError('unusable', out, `${out}: the file system refused to ${doing} (${code})`);
}

/**
 * Checks `out` against every rule and, with `create`, makes the directories it lacks. Returns
 * the target's real path: write the backup there, not to `out`, so that a link changed later
 * is not followed.
 *
 * This calls the file system with `out`: in the node, call {@link checkBackupTargetIsolated}.
 *
 * @throws BackupTargetError
 */
export async function checkBackupTarget(
  out: string,
  options: { readonly dataDir: string; readonly create: boolean },
): Promise<string> {
  const resolved = checkBackupPath(out, options.dataDir);
  const dataDirs = [path.resolve(options.dataDir)];
  try {
    dataDirs.push(await fs.realpath(options.dataDir));
  } catch {
    // No data directory yet: nothing can be inside it but what the path says.
  }
  // The deepest part of the path that exists, with its links resolved.
  const missing: string[] = [];
  let existing = resolved;
  let real: string;
  for (;;) {
    try {
      real = await fs.realpath(existing);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw unusable(out, error, 'resolve it');
      // The root always exists, so the walk ends there at the latest.
      missing.unshift(path.basename(existing));
      existing = path.dirname(existing);
      if (missing.length > NEW_DIRECTORIES_MAX) {
        throw new BackupTargetError(
          'unusable',
          out,
          `${out}: more than ${NEW_DIRECTORIES_MAX} directories would have to be made; make its parent first`,
        );
      }
    }
  }
  const target = path.join(real, ...missing);
  refuseSystemOrData(out, target, dataDirs);
  let stat: Awaited<ReturnType<typeof fs.stat>>;
  try {
    stat = await fs.stat(real);
  } catch (error) {
    throw unusable(out, error, 'read it');
  }
  if (!stat.isDirectory()) {
    throw new BackupTargetError(
      'not-directory',
      out,
      missing.length === 0 ? `${out} is not a directory` : `${real}, a parent of ${out}, is not a directory`,
    );
  }
  if (missing.length === 0) {
    let entry: unknown;
    try {
      // Read one entry, not the whole listing: the directory could hold millions.
      const directory = await fs.opendir(real);
      try {
        entry = await directory.read();
      } finally {
        await directory.close();
      }
    } catch (error) {
      throw unusable(out, error, 'list it');
    }
    if (entry !== null) {
      throw new BackupTargetError(
        'not-empty',
        out,
        `${out} is not empty: a backup goes to a new or empty directory`,
      );
    }
    try {
      // So that the copy does not fail half-way with a 500; a new directory is ours.
      await fs.access(real, fsConstants.W_OK | fsConstants.X_OK);
    } catch (error) {
      throw unusable(out, error, 'let this process write into it');
    }
  }
  if (options.create) {
    let made = real;
    for (const name of missing) {
      made = path.join(made, name);
      try {
        // One level at a time: a recursive mkdir loops forever where a directory cannot be made.
        await fs.mkdir(made);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new BackupTargetError(
            'unusable',
            out,
            `${made} appeared while it was being made, or is a dangling symbolic link`,
          );
        }
        throw unusable(out, error, `make ${made}`);
      }
    }
  }
  return target;
}

/** What the child process is asked. */
export interface BackupTargetRequest {
  readonly out: string;
  readonly dataDir: string;
  readonly create: boolean;
}

/** What the child process answers. */
export type BackupTargetReply =
  | { readonly ok: true; readonly target: string }
  | { readonly ok: false; readonly code: BackupTargetErrorCode; readonly message: string };

/** The child's module, next to this one (`.ts` in a checkout, `.js` in the build). */
function childModule(): URL {
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./backup-target-child${extension}`, import.meta.url);
}

/**
 * {@link checkBackupTarget} in a child process, given `timeoutMs` to answer; past it the child
 * is killed and the check fails with code 'timeout'. Whatever the file system does, the node's
 * event loop and thread pool never wait on `out`.
 *
 * @param options.module - the child's module (tests substitute one that never answers).
 * @throws BackupTargetError; an Error when the child fails in another way (a bug).
 */
export async function checkBackupTargetIsolated(
  request: BackupTargetRequest,
  options: { readonly timeoutMs: number; readonly clock?: Clock; readonly module?: URL },
): Promise<string> {
  // The rules that need no file system, at once and without a process.
  checkBackupPath(request.out, request.dataDir);
  const clock = options.clock ?? systemClock;
  const child = fork(options.module ?? childModule(), [], {
    // Not the parent's flags (a test runner's, an inspector's): a plain Node.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    serialization: 'json',
  });
  const { promise, resolve, reject } = Promise.withResolvers<string>();
  const timer = clock.setTimer(options.timeoutMs, () =>
    reject(
      new BackupTargetError(
        'timeout',
        request.out,
        `the file system did not answer within ${options.timeoutMs} ms while ${request.out} was checked; no backup was taken`,
      ),
    ),
  );
  child.once('message', (reply: BackupTargetReply) => {
    if (reply.ok) resolve(reply.target);
    else reject(new BackupTargetError(reply.code, request.out, reply.message));
  });
  child.once('error', (error) => reject(new Error(`the backup path check failed to run: ${error.message}`)));
  child.once('exit', (code, signal) =>
    reject(new Error(`the backup path check exited (${signal ?? `code ${code}`}) without an answer`)),
  );
  child.send(request);
  try {
    return await promise;
  } finally {
    timer.cancel();
    // Killed whatever it is doing; and not waited for: a child stuck in the kernel dies when
    // it leaves it, and the node must be able to exit before that.
    child.kill('SIGKILL');
    child.unref();
    child.channel?.unref();
  }
}
