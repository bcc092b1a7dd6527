/**
 * Where a backup may go (`backup-target.ts`), on a real file system: every rule refuses with
 * its code, good targets are made one level at a time, the child-process check answers the
 * same, and a check stuck in the kernel neither holds the node nor keeps its process alive.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  BackupTargetError,
  type BackupTargetErrorCode,
  checkBackupPath,
  checkBackupTarget,
  checkBackupTargetIsolated,
  NEW_DIRECTORIES_MAX,
} from '../../src/node/backup-target.ts';
import { tempDir } from './support.ts';

function refusedWith(code: BackupTargetErrorCode) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof BackupTargetError, `expected a BackupTargetError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.ok(error.message.length > 0);
    return true;
  };
}

/** A data directory with a store-like file, and room around it. */
function layout(t: Parameters<typeof tempDir>[0]) {
  const root = fs.realpathSync(tempDir(t, 'cretoai-backup-target-'));
  const dataDir = path.join(root, 'data', 'node-0');
  fs.mkdirSync(dataDir, { recursive: true });
  fs.writeFileSync(path.join(dataDir, 'data.mdb'), 'store');
  const full = path.join(root, 'full');
  fs.mkdirSync(full);
  fs.writeFileSync(path.join(full, 'something'), 'x');
  fs.writeFileSync(path.join(root, 'file'), 'x');
  fs.symlinkSync(dataDir, path.join(root, 'link-to-data'));
  fs.symlinkSync('/proc/self', path.join(root, 'link-to-proc'));
  fs.symlinkSync(path.join(root, 'nowhere'), path.join(root, 'dangling'));
  return { root, dataDir };
}

/** Hostile targets and the rule that refuses each (`root` and `dataDir` substituted). */
const HOSTILE: readonly [string, string, BackupTargetErrorCode][] = [
  ['relative', 'backups/b1', 'not-absolute'],
  ['empty', '', 'not-absolute'],
  ['a NUL byte', '{root}/b\0c', 'not-absolute'],
  ['under /proc', '/proc/self/bk', 'system'],
  ['/proc itself', '/proc', 'system'],
  ['under /sys', '/sys/x', 'system'],
  ['under /dev', '/dev/x', 'system'],
  ['/proc by ..', '{root}/../../../../../../../../proc/self/bk', 'system'],
  ['through a link to /proc', '{root}/link-to-proc/bk', 'system'],
  ['inside the data directory', '{dataDir}/bk', 'inside-data-dir'],
  ['the data directory itself', '{dataDir}', 'inside-data-dir'],
  ['inside by ..', '{root}/elsewhere/../data/node-0/bk', 'inside-data-dir'],
  ['through a link into the data directory', '{root}/link-to-data/bk', 'inside-data-dir'],
  ['a link to the data directory', '{root}/link-to-data', 'inside-data-dir'],
  ['a directory that holds something', '{root}/full', 'not-empty'],
  ['a file', '{root}/file', 'not-directory'],
  ['under a file', '{root}/file/bk', 'not-directory'],
  ['a dangling link', '{root}/dangling', 'unusable'],
  ['longer than PATH_MAX', `/${'a'.repeat(5000)}`, 'unusable'],
  [
    'too many new levels',
    `{root}/${Array.from({ length: NEW_DIRECTORIES_MAX + 1 }, (_, i) => `d${i}`).join('/')}`,
    'unusable',
  ],
];

function substitute(text: string, where: { root: string; dataDir: string }): string {
  return text.replace('{root}', where.root).replace('{dataDir}', where.dataDir);
}

describe('backup targets', () => {
  it('every hostile target is refused with its code, and nothing is made for it', async (t) => {
    const where = layout(t);
    const before = fs.readdirSync(where.root).sort();
    for (const [name, template, code] of HOSTILE) {
      const out = substitute(template, where);
      await assert.rejects(
        checkBackupTarget(out, { dataDir: where.dataDir, create: true }),
        refusedWith(code),
        name,
      );
    }
    assert.deepEqual(fs.readdirSync(where.root).sort(), before);
    assert.deepEqual(fs.readdirSync(where.dataDir), ['data.mdb']);
  });

  it('the rules that need no file system refuse without one', (t) => {
    const where = layout(t);
    assert.throws(() => checkBackupPath('rel/x', where.dataDir), refusedWith('not-absolute'));
    assert.throws(() => checkBackupPath('/proc/self/bk', where.dataDir), refusedWith('system'));
    assert.throws(
      () => checkBackupPath(`${where.dataDir}/../node-0/x`, where.dataDir),
      refusedWith('inside-data-dir'),
    );
    assert.equal(checkBackupPath(`${where.root}/a/../b`, where.dataDir), `${where.root}/b`);
    // A sibling whose name merely starts with the data directory's is outside it.
    assert.equal(checkBackupPath(`${where.dataDir}-backup`, where.dataDir), `${where.dataDir}-backup`);
  });

  it('a new directory is made one level at a time, an empty one is taken as it is, and the real path is returned', async (t) => {
    const where = layout(t);
    const deep = path.join(where.root, 'backups', 'a', 'b');
    assert.equal(await checkBackupTarget(deep, { dataDir: where.dataDir, create: true }), deep);
    assert.ok(fs.statSync(deep).isDirectory());
    // Already there and empty: fine, and nothing changes.
    assert.equal(await checkBackupTarget(deep, { dataDir: where.dataDir, create: true }), deep);
    // Through a link to a directory outside the data directory: the real path comes back.
    fs.symlinkSync(path.join(where.root, 'backups'), path.join(where.root, 'link-to-backups'));
    assert.equal(
      await checkBackupTarget(path.join(where.root, 'link-to-backups', 'c'), {
        dataDir: where.dataDir,
        create: true,
      }),
      path.join(where.root, 'backups', 'c'),
    );
    // Without `create`, nothing is made.
    const unmade = path.join(where.root, 'unmade');
    assert.equal(await checkBackupTarget(unmade, { dataDir: where.dataDir, create: false }), unmade);
    assert.equal(fs.existsSync(unmade), false);
  });

  it('the check in a child process answers as the one in this process does', async (t) => {
    const where = layout(t);
    for (const [name, template, code] of HOSTILE.filter(([, , code]) => code !== 'not-absolute')) {
      await assert.rejects(
        checkBackupTargetIsolated(
          { out: substitute(template, where), dataDir: where.dataDir, create: true },
          { timeoutMs: 30_000 },
        ),
        refusedWith(code),
        name,
      );
    }
    const good = path.join(where.root, 'good', 'one');
    assert.equal(
      await checkBackupTargetIsolated(
        { out: good, dataDir: where.dataDir, create: true },
        { timeoutMs: 30_000 },
      ),
      good,
    );
    assert.ok(fs.statSync(good).isDirectory());
  });

  it('a check stuck in the kernel times out, its child is killed, and the process that asked still exits by itself', async (t) => {
    const where = layout(t);
    const fifo = path.join(where.root, 'stuck');
    execFileSync('mkfifo', [fifo]);
    const parent = spawn(
      process.execPath,
      [new URL('./backup-target-stuck-parent.ts', import.meta.url).pathname, fifo, where.dataDir],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    parent.stdout.setEncoding('utf8');
    parent.stdout.on('data', (text: string) => {
      output += text;
    });
    // A process held by a stuck thread would never exit: give it ample time, then fail.
    const timer = setTimeout(() => parent.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      parent.once('exit', (exitCode, exitSignal) => resolve([exitCode, exitSignal])),
    );
    clearTimeout(timer);
    assert.equal(signal, null, 'the asking process did not exit by itself');
    assert.equal(code, 0);
    assert.equal(output.trim(), 'timeout');
    // The child was killed in its read, not let go by the closed FIFO.
    const pid = Number(fs.readFileSync(`${fifo}.pid`, 'utf8'));
    const gone = performance.now() + 10_000;
    while (isAlive(pid) && performance.now() < gone) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(isAlive(pid), false, `the stuck child ${pid} is still alive`);
    assert.equal(fs.existsSync(`${fifo}.unblocked`), false, 'the stuck child got past its read');
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
