/**
 * The writer the index tail's crash test kills: it finalizes `WIDE_BATCH` at sequence 1, reports
 * the write durable on stdout, and kills itself with SIGKILL before another commit could write
 * the entries that wait in the tail.
 *
 * Usage: node test/storage/lmdb-index-tail-child.ts <dir>
 */
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { CLUSTER_ID, wideFinalized } from './lmdb-fixtures.ts';

const [dir] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: lmdb-index-tail-child.ts <dir>');

const store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 1 });
await store.apply([wideFinalized()], 1);
process.stdout.write('durable\n');
process.kill(process.pid, 'SIGKILL');
