/**
 * One node process per data directory. LMDB lets several processes open one environment, so two
 * `cretoai-node start` runs on the same directory would both sign as the same validator, which
 * is equivocation by construction. A pid file in the directory keeps the second one out; a pid
 * file left by a process that is gone (killed with SIGKILL) is taken over.
 */

import fs from 'node:fs';
import path from 'node:path';
import { CretoaiError } from '../errors.ts';

export const LOCK_FILE = 'cretoai-node.pid';

/** The data directory is in use by a running node. */
export class DataDirInUseError extends CretoaiError {
  override readonly name = 'DataDirInUseError';
  readonly code = 'data-dir-in-use';
  readonly dataDir: string;
  readonly pid: number;

  constructor(dataDir: string, pid: number) {
    super(`the data directory ${dataDir} is in use by a running node (process ${pid}); stop it first`);
    this.dataDir = dataDir;
    this.pid = pid;
  }
}

const heldHere = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The pid of the running node holding `dataDir`, or null. */
export function dataDirHolder(dataDir: string): number | null {
  const file = path.join(dataDir, LOCK_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const pid = Number.parseInt(text, 10);
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  if (pid === process.pid) return heldHere.has(path.resolve(dataDir)) ? pid : null;
  return isAlive(pid) ? pid : null;
}

/**
 * Takes the data directory for this process (creating it if missing).
 *
 * @returns a function that releases it.
 * @throws DataDirInUseError when a live process holds it.
 */
export function lockDataDir(dataDir: string): () => void {
  const resolved = path.resolve(dataDir);
  fs.mkdirSync(resolved, { recursive: true });
  const holder = dataDirHolder(resolved);
  if (holder !== null) throw new DataDirInUseError(resolved, holder);
  const file = path.join(resolved, LOCK_FILE);
  fs.rmSync(file, { force: true });
  // 'wx': if another process took it between the check and now, refuse rather than share.
  try {
    fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new DataDirInUseError(resolved, dataDirHolder(resolved) ?? -1);
    }
    throw error;
  }
  heldHere.add(resolved);
  return () => {
    heldHere.delete(resolved);
    try {
      if (Number.parseInt(fs.readFileSync(file, 'utf8'), 10) === process.pid)
        fs.rmSync(file, { force: true });
    } catch {
      // Already gone: nothing to release.
    }
  };
}
