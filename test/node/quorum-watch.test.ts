/**
 * The quorum watch: the reading is live, the log hears only of changes that lasted the debounce
 * (a flapping link writes nothing), once per transition. Driven by a ManualClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeQuorum, type QuorumReading, QuorumWatch } from '../../src/node/quorum-watch.ts';
import { ConfigError } from '../../src/protocol/errors.ts';
import { ManualClock } from '../../src/shell/clock.ts';

function setup(initialPeers: string[]) {
  const clock = new ManualClock();
  let peers = initialPeers;
  const changes: [string, QuorumReading][] = [];
  const watch = new QuorumWatch({
    validators: 4,
    needed: 3,
    connectedPeers: () => peers,
    debounceMs: 1000,
    startGraceMs: 3000,
    clock,
    onChange: (change, reading) => changes.push([change, reading]),
  });
  const connect = (next: string[]): void => {
    peers = next;
    watch.update();
  };
  return { clock, watch, changes, connect };
}

describe('QuorumWatch', () => {
  it('reads the quorum live: itself plus its connected peers, against the quorum', () => {
    const { watch, connect } = setup(['b', 'c', 'd']);
    assert.deepEqual(watch.reading(), { reachable: 4, validators: 4, needed: 3, available: true });
    connect(['b']);
    assert.deepEqual(watch.reading(), { reachable: 2, validators: 4, needed: 3, available: false });
    assert.equal(describeQuorum(watch.reading()), 'no quorum: 2 of 4 validators reachable, 3 needed');
  });

  it("after a reconfiguration, counts the new epoch's validators only, and itself only if it is one", () => {
    // a is this node; it stays linked to the validators of the epoch before (e, removed).
    const { watch, connect } = setup(['b', 'c', 'd', 'e']);
    watch.setValidators(['a', 'b', 'c', 'd', 'f'], 4, true);
    assert.deepEqual(watch.reading(), { reachable: 4, validators: 5, needed: 4, available: true });
    connect(['b', 'c', 'e']);
    assert.deepEqual(watch.reading(), { reachable: 3, validators: 5, needed: 4, available: false });
    // A node the reconfiguration removed counts nobody for itself.
    watch.setValidators(['b', 'c', 'd', 'f'], 3, false);
    assert.deepEqual(watch.reading(), { reachable: 2, validators: 4, needed: 3, available: false });
    assert.throws(() => watch.setValidators(['b'], 3, false), ConfigError);
  });

  it('reports a loss once it has lasted the debounce, and the return likewise', () => {
    const { clock, watch, changes, connect } = setup(['b', 'c', 'd']);
    connect(['b']);
    clock.advance(999);
    assert.equal(changes.length, 0);
    clock.advance(1);
    assert.deepEqual(
      changes.map(([change, reading]) => [change, reading.reachable]),
      [['lost', 2]],
    );
    assert.equal(watch.losses, 1);
    // Staying lost reports nothing more, whatever else changes.
    connect([]);
    clock.advance(5000);
    assert.equal(changes.length, 1);
    connect(['b', 'c']);
    clock.advance(1000);
    assert.deepEqual(
      changes.map(([change]) => change),
      ['lost', 'regained'],
    );
  });

  it('says nothing about a link that flaps faster than the debounce', () => {
    const { clock, changes, connect } = setup(['b', 'c', 'd']);
    for (let i = 0; i < 50; i++) {
      connect(['b']);
      clock.advance(400);
      connect(['b', 'c']);
      clock.advance(400);
    }
    assert.equal(changes.length, 0);
  });

  it('reports a start without a quorum after the start grace, and a normal start not at all', () => {
    const alone = setup([]);
    alone.clock.advance(2999);
    assert.equal(alone.changes.length, 0);
    alone.clock.advance(1);
    assert.deepEqual(
      alone.changes.map(([change]) => change),
      ['lost'],
    );
    const normal = setup([]);
    normal.clock.advance(200);
    normal.connect(['b', 'c', 'd']);
    normal.clock.advance(5000);
    assert.equal(normal.changes.length, 0);
  });

  it('leaves no timer behind once closed', () => {
    const { clock, watch, changes, connect } = setup(['b', 'c', 'd']);
    connect([]);
    watch.close();
    assert.equal(clock.pendingTimers, 0);
    clock.advance(5000);
    assert.equal(changes.length, 0);
  });

  it('refuses figures that describe no cluster', () => {
    const base = { connectedPeers: () => [], onChange: () => undefined };
    assert.throws(() => new QuorumWatch({ ...base, validators: 0, needed: 1 }), ConfigError);
    assert.throws(() => new QuorumWatch({ ...base, validators: 4, needed: 5 }), ConfigError);
    assert.throws(() => new QuorumWatch({ ...base, validators: 4, needed: 3, debounceMs: -1 }), ConfigError);
  });
});
