/**
 * Telling two live processes with one key from a peer that restarted (duplicate-identity.ts):
 * a restart replaces the link at once, every time; an instance that comes back after it was
 * replaced is a live duplicate, and the one seen later is refused for a back-off that doubles;
 * losing the incumbent lets the other in. Driven by a ManualClock.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ArgumentError } from '../../src/errors.ts';
import { ConfigError } from '../../src/protocol/errors.ts';
import { ManualClock } from '../../src/shell/clock.ts';
import { DuplicateIdentityGuard, INSTANCES_REMEMBERED_MAX } from '../../src/transport/duplicate-identity.ts';

const at = (instance: string, port: number) => ({ instance, remoteAddress: '127.0.0.1', remotePort: port });

function guard() {
  const clock = new ManualClock();
  return {
    clock,
    guard: new DuplicateIdentityGuard(clock, {
      windowMs: 60_000,
      refuseMinMs: 1000,
      refuseMaxMs: 4000,
      settleMs: 500,
    }),
  };
}

describe('DuplicateIdentityGuard', () => {
  it('lets a restarted peer replace its link at once, restart after restart, without a detection', () => {
    const { clock, guard: g } = guard();
    for (let i = 0; i < 20; i++) {
      const admission = g.admit('node-0', at(`instance-${i}`, 5000 + i));
      assert.deepEqual(admission, { admit: true, detection: null });
      clock.advance(100);
    }
    assert.deepEqual(g.states(), []);
  });

  it('detects an instance that comes back after it was replaced, and refuses the later one', () => {
    const { clock, guard: g } = guard();
    assert.equal(g.admit('node-0', at('first', 1)).admit, true);
    clock.advance(10);
    assert.equal(g.admit('node-0', at('second', 2)).admit, true);
    clock.advance(501);
    // The first connects again, later than a handshake it began before the second took over
    // could finish: both are alive. It was seen first, so it keeps the link.
    const back = g.admit('node-0', at('first', 3));
    assert.equal(back.admit, true);
    assert.equal(back.detection?.incumbent.instance, 'first');
    assert.equal(back.detection?.duplicate.instance, 'second');
    assert.equal(back.detection?.duplicate.remotePort, 2);
    assert.equal(back.detection?.refusedForMs, 1000);
    assert.equal(g.refuses('node-0', 'second'), true);
    assert.equal(g.refuses('node-0', 'first'), false);
    assert.deepEqual(g.admit('node-0', at('second', 4)), { admit: false, detection: null });
    assert.equal(g.states()[0]?.detections, 1);
  });

  it('refuses the later instance again as soon as its refusal ends, twice as long each time', () => {
    const { clock, guard: g } = guard();
    g.admit('node-0', at('first', 1));
    clock.advance(10);
    g.admit('node-0', at('second', 2));
    clock.advance(501);
    assert.equal(g.admit('node-0', at('first', 1)).detection?.refusedForMs, 1000);
    // Refusal over: the second's next connection finds the first still holding the link.
    for (const refusedForMs of [2000, 4000, 4000]) {
      clock.advance(refusedForMs === 2000 ? 1000 : refusedForMs);
      const again = g.admit('node-0', at('second', 2));
      assert.equal(again.admit, false);
      assert.equal(again.detection?.duplicate.instance, 'second');
      assert.equal(again.detection?.refusedForMs, refusedForMs);
    }
    assert.equal(g.states()[0]?.detections, 4);
    // The first kept the link throughout.
    assert.equal(g.refuses('node-0', 'first'), false);
  });

  it('lets the duplicate in once the incumbent is lost (the operator stopped it)', () => {
    const { clock, guard: g } = guard();
    g.admit('node-0', at('first', 1));
    g.admit('node-0', at('second', 2));
    clock.advance(501);
    g.admit('node-0', at('first', 1));
    assert.equal(g.refuses('node-0', 'second'), true);
    g.lost('node-0', 'first');
    assert.equal(g.refuses('node-0', 'second'), false);
    assert.deepEqual(g.admit('node-0', at('second', 2)), { admit: true, detection: null });
    clock.advance(100);
    // It stays, as a lone instance, and a later restart of it replaces it as usual.
    assert.deepEqual(g.admit('node-0', at('third', 3)), { admit: true, detection: null });
  });

  it("takes a return within settleMs for a late handshake of a restarted peer's old instance", () => {
    const { clock, guard: g } = guard();
    g.admit('node-0', at('old', 1));
    clock.advance(1000);
    g.admit('node-0', at('new', 2));
    // A handshake the old process began before it died finishes late (a relay held it back).
    clock.advance(400);
    assert.deepEqual(g.admit('node-0', at('old', 1)), { admit: true, detection: null });
    // The new instance redials and takes over again; nothing is refused.
    assert.deepEqual(g.admit('node-0', at('new', 3)), { admit: true, detection: null });
    assert.equal(g.refuses('node-0', 'new'), false);
    assert.deepEqual(g.states(), []);
  });

  it('does not count a replaced instance that returns after the window', () => {
    const { clock, guard: g } = guard();
    g.admit('node-0', at('first', 1));
    g.admit('node-0', at('second', 2));
    clock.advance(60_001);
    assert.deepEqual(g.admit('node-0', at('first', 1)), { admit: true, detection: null });
  });

  it('keeps peers apart and remembers a bounded number of instances', () => {
    const { clock, guard: g } = guard();
    for (let i = 0; i < 100; i++) g.admit('node-1', at(`restart-${i}`, i));
    g.admit('node-2', at('a', 1));
    g.admit('node-2', at('b', 2));
    clock.advance(501);
    g.admit('node-2', at('a', 1));
    assert.deepEqual(
      g.states().map((state) => state.peer),
      ['node-2'],
    );
    // The oldest restarts of node-1 are forgotten: coming back now is not a detection.
    assert.equal(g.admit('node-1', at('restart-0', 0)).detection, null);
    assert.ok(INSTANCES_REMEMBERED_MAX >= 2);
  });

  it('refuses figures that cannot be a back-off', () => {
    const clock = new ManualClock();
    assert.throws(() => new DuplicateIdentityGuard(clock, { windowMs: 0 }), ConfigError);
    assert.throws(
      () => new DuplicateIdentityGuard(clock, { refuseMinMs: 10, refuseMaxMs: 5 }),
      ArgumentError,
    );
  });
});
