/**
 * The writer the crash test kills: it opens the store in the directory given, goes on from the
 * last finalized sequence, keeps `inFlight` steps outstanding, and reports each receipt on
 * stdout ("ack <sequence>") as it arrives. Writes to a pipe are synchronous on Linux, so a
 * reported receipt is in the pipe before the next instruction runs, and SIGKILL cannot lose it.
 *
 * Usage: node test/storage/lmdb-crash-child.ts <dir> <inFlight>
 */
import { LmdbStore } from '../../src/storage/lmdb.ts';
import { CLUSTER_ID, crashStep } from './lmdb-fixtures.ts';

const [dir, inFlightText] = process.argv.slice(2);
if (dir === undefined || inFlightText === undefined)
  throw new Error('usage: lmdb-crash-child.ts <dir> <inFlight>');

const store = await LmdbStore.open({ path: dir, clusterId: CLUSTER_ID, replica: 0 });
let next = store.lastFinalized + 1;
// Computes the chain digests up to here now, so that the writes start as soon as "ready" is out.
crashStep(next, true);
process.stdout.write(`ready ${store.lastFinalized}\n`);

function launch(): void {
  const sequence = next++;
  store.apply(crashStep(sequence, true), sequence).then(
    () => {
      process.stdout.write(`ack ${sequence}\n`);
      launch();
    },
    (error: unknown) => {
      process.stderr.write(`apply ${sequence} failed: ${String(error)}\n`);
      process.exit(1);
    },
  );
}

for (let i = 0; i < Number(inFlightText); i++) launch();
