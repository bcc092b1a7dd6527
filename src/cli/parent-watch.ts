/**
 * Noticing that the process that started this one is gone, so that a command which owns child
 * processes and a temporary directory (`cretoai-node up`) can clean up after a parent that died
 * without passing a signal on.
 *
 * `npm start` runs `up` as npm -> `sh -c "node ... up"` -> node: Debian's sh (dash) does not
 * exec the command, so the shell stays between them. npm passes SIGTERM and SIGINT to the shell,
 * which dies of it without passing it on; npm killed with SIGKILL passes nothing, and the shell
 * lives on waiting for `up`. Node has no `prctl(PR_SET_PDEATHSIG)`, and standard input is the
 * terminal's, so it does not close either. What does change: the parent's pid once the parent
 * dies (the orphan is re-parented, to 1 or a subreaper), and, under npm, the shell's own parent
 * once npm dies. So this polls both: `process.ppid` always, and, when run by an npm script
 * through a shell, the shell's parent as `/proc/<ppid>/stat` gives it (Linux; elsewhere only
 * the parent is watched). Polling twice a second costs a read of one small file.
 */
import fs from 'node:fs';
import { integerField } from '../protocol/errors.ts';

/** What died: this process's parent, or (under `npm run`) the npm process above the shell. */
export type ParentLoss = 'parent' | 'npm';

/** Options of {@link watchParent}. */
export interface ParentWatchOptions {
  /** How often to look. Default 500 ms. */
  readonly intervalMs?: number;
  /** Watch the shell's parent under `npm run` (default: when `npm_lifecycle_event` is set). */
  readonly npm?: boolean;
}

/** Shells that npm runs scripts with, which stay as the parent of the script's command. */
const SHELLS: ReadonlySet<string> = new Set(['sh', 'dash', 'bash', 'zsh', 'ash', 'busybox']);

/** The parent pid of `pid` from `/proc/<pid>/stat`, or null where there is no such file. */
export function parentOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isSafeInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

function commandOf(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Calls `onLoss` once when the parent (or, under `npm run`, npm above the shell) is gone.
 * Returns a function that stops watching. The timer does not keep the process alive.
 */
export function watchParent(
  onLoss: (loss: ParentLoss) => void,
  options: ParentWatchOptions = {},
): () => void {
  const intervalMs = integerField('intervalMs', options.intervalMs, 500, 1);
  const parent = process.ppid;
  const underNpm = options.npm ?? process.env.npm_lifecycle_event !== undefined;
  const shell = commandOf(parent);
  const grandparent = underNpm && shell !== null && SHELLS.has(shell) ? parentOf(parent) : null;
  const timer = setInterval(() => {
    let loss: ParentLoss | null = null;
    if (process.ppid !== parent) loss = 'parent';
    else if (grandparent !== null && parentOf(parent) !== grandparent) loss = 'npm';
    if (loss === null) return;
    clearInterval(timer);
    onLoss(loss);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
