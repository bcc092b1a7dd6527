import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runFuzz } from '../../fuzz/fuzz.ts';

const seed = Number(process.env.FC_SEED ?? 20261124);
const runs = Number(process.env.FUZZ_RUNS ?? 4000);

test(`random and mutated frames from a Byzantine peer never crash an honest replica, break agreement or grow its state past its bounds (${runs} inputs, seed ${seed})`, () => {
  const report = runFuzz({ runs, seed, resetEvery: 1000 });
  assert.equal(report.failure, null, `replay: npm run fuzz -- --runs ${runs} --seed ${seed} --reset 1000`);
  const { outcomes } = report;
  // The frames reach every stage of the pipeline, not only the decoder.
  for (const [stage, count] of Object.entries(outcomes))
    assert.ok(count > 0, `some frames ended as ${stage}`);
  assert.ok(report.highestFinalized > 10, 'the honest replicas kept finalizing under attack');
  for (const [name, { size, bound }] of Object.entries(report.footprint)) {
    assert.ok(size <= bound, `${name}: ${size} within ${bound}`);
  }
});

test('the fuzzer reports an exception that escapes the target, and the seed that replays it', () => {
  const broken = (cluster: import('../../fuzz/cluster.ts').FuzzCluster): void => {
    const frame = cluster.frame.bind(cluster);
    cluster.frame = (to, bytes) => {
      if (bytes.length > 120) throw new Error('planted bug: long frames crash the replica');
      frame(to, bytes);
    };
  };
  const first = runFuzz({ runs: 2000, seed, resetEvery: 1000, alterCluster: broken });
  assert.match(first.failure ?? '', /planted bug/);
  assert.match(first.failure ?? '', new RegExp(`seed: ${seed}`));
  const again = runFuzz({ runs: 2000, seed, resetEvery: 1000, alterCluster: broken });
  assert.equal(again.failure, first.failure, 'the same seed fails the same way');
});
