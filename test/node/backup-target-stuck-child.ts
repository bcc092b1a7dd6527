/**
 * A stand-in for the backup path check's child process that gets stuck in the kernel, as one
 * on a hung network or FUSE mount would: it opens the FIFO named by the request's `out` and
 * reads from it. The test holds the FIFO's write end open and never writes, so the read holds a
 * libuv thread of this process until the parent kills it. It leaves its pid in `<out>.pid`, and
 * `<out>.unblocked` if it ever gets past the read (it was not killed).
 */
import fs from 'node:fs';
import type { BackupTargetRequest } from '../../src/node/backup-target.ts';

process.once('message', async (request: BackupTargetRequest) => {
  fs.writeFileSync(`${request.out}.pid`, String(process.pid));
  const fifo = await fs.promises.open(request.out, 'r');
  await fifo.read(Buffer.alloc(1), 0, 1);
  fs.writeFileSync(`${request.out}.unblocked`, '');
});
