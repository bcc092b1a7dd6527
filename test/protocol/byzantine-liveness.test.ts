/**
 * Liveness bugs the simulator's Byzantine replicas found in the protocol core, each reproduced
 * here on its own.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ViewChange } from '../../src/protocol/index.ts';
import { signAs, TestCluster } from '../support/cluster.ts';

const options = { viewChangeTimeoutTicks: 20, statusIntervalTicks: 10 };

test('a replica whose peers moved one view further on does not wait forever for a silent primary (4.5.2)', () => {
  // n = 4, replica 3 is silent for good. Replica 0 joins view 3 (led by replica 3) on
  // VIEW-CHANGEs from replica 2 for view 3 and from replica 1, which already gave up on view 3,
  // for view 4. It holds a quorum of replicas at view 3 or beyond, but only two VIEW-CHANGEs
  // for view 3 itself; it must still time out on view 3 and move on to view 4.
  const cluster = new TestCluster(4, options);
  const replica = cluster.replicas[0]!;
  const viewChange = (view: number, from: number): ViewChange =>
    signAs<ViewChange>(
      {
        kind: 'view-change',
        view,
        checkpoint: { sequence: 0, stateDigest: replica.genesis, proof: [] },
        prepared: [],
        replica: from,
      },
      from,
    );
  // Only replica 0 takes part; what it sends to the others is lost.
  cluster.filter = ({ to }) => to === 0;
  cluster.input(0, { kind: 'message', from: 2, message: viewChange(3, 2) });
  cluster.input(0, { kind: 'message', from: 1, message: viewChange(4, 1) });
  cluster.run();
  assert.equal(replica.view, 3, 'joined the smallest view that f + 1 others want');
  assert.equal(replica.viewActive, false);
  for (let tick = 0; tick < 20 * options.viewChangeTimeoutTicks && replica.view === 3; tick++) {
    cluster.tick(0);
    cluster.run();
  }
  assert.equal(replica.view, 4, 'gave up on the silent primary of view 3');
});
