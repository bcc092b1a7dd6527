/**
 * A process that asks `checkBackupTargetIsolated` about a target whose check gets stuck in the
 * kernel (`backup-target-stuck-child.ts`), waits until the child is stuck, lets the deadline
 * pass on a manual clock, prints the error code, and then simply returns: the test checks that
 * the process exits by itself, so that nothing of the stuck check holds it.
 *
 * Usage: node test/node/backup-target-stuck-parent.ts <fifo> <dataDir>
 */
import fs from 'node:fs';
import { BackupTargetError, checkBackupTargetIsolated } from '../../src/node/backup-target.ts';
import { ManualClock } from '../../src/shell/clock.ts';

const [fifo, dataDir] = process.argv.slice(2);
if (fifo === undefined || dataDir === undefined) throw new Error('usage: <fifo> <dataDir>');

const clock = new ManualClock();
const check = checkBackupTargetIsolated(
  { out: fifo, dataDir, create: true },
  { timeoutMs: 1_000, clock, module: new URL('./backup-target-stuck-child.ts', import.meta.url) },
);
// The FIFO's write end opens without blocking only once the child has its read end open.
let writer: number | null = null;
while (writer === null) {
  try {
    writer = fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENXIO') throw error;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
// Give the child's read a moment to start and block.
await new Promise((resolve) => setTimeout(resolve, 50));
clock.advance(1_000);
try {
  await check;
  process.stdout.write('answered\n');
} catch (error) {
  process.stdout.write(`${error instanceof BackupTargetError ? error.code : String(error)}\n`);
}
fs.closeSync(writer);
