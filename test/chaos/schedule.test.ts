/**
 * The chaos harness's fault schedule (`chaos/schedule.ts`) and fault list: a seed gives the same
 * faults, only enabled kinds are drawn, and every figure stays in its bounds.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FAULT_KINDS, parseFaultList } from '../../chaos/options.ts';
import {
  type NetworkFaultSpec,
  nextNetworkFault,
  nextProcessFault,
  type ProcessFaultSpec,
  SCHEDULE_BOUNDS,
} from '../../chaos/schedule.ts';
import { Prng } from '../../src/sim/prng.ts';

function draws(seed: number, count: number): (ProcessFaultSpec | NetworkFaultSpec | null)[] {
  const processPrng = new Prng(seed);
  const networkPrng = new Prng(seed + 1);
  return Array.from({ length: count }, (_, i) =>
    i % 2 === 0
      ? nextProcessFault(processPrng, FAULT_KINDS, 4)
      : nextNetworkFault(networkPrng, FAULT_KINDS, 4),
  );
}

function within(value: number, [low, high]: readonly [number, number]): boolean {
  return value >= low && value <= high;
}

describe('fault schedule', () => {
  it('one seed draws the same faults, another draws others', () => {
    assert.deepEqual(draws(42, 50), draws(42, 50));
    assert.notDeepEqual(draws(42, 50), draws(43, 50));
  });

  it('draws only enabled kinds, every kind in time, and every figure within its bounds', () => {
    const processPrng = new Prng(7);
    const networkPrng = new Prng(8);
    const seen = new Set<string>();
    for (let i = 0; i < 500; i++) {
      const spec = nextProcessFault(processPrng, FAULT_KINDS, 4)!;
      seen.add(spec.kind);
      assert.ok(within(spec.gapMs, SCHEDULE_BOUNDS.processGapMs));
      if (spec.kind === 'kill') assert.ok(spec.victim >= 0 && spec.victim < 4);
      if (spec.kind === 'two-down') assert.notEqual(spec.victims[0], spec.victims[1]);
      if (spec.kind === 'stop-leader') assert.ok(within(spec.pauseMs, SCHEDULE_BOUNDS.stopLeaderPauseMs));
      if (spec.kind === 'wipe') assert.ok(spec.backupChoice >= 0 && spec.backupChoice < 3);
      const network = nextNetworkFault(networkPrng, FAULT_KINDS, 4)!;
      seen.add(network.kind);
      assert.ok(within(network.windowMs, SCHEDULE_BOUNDS.networkWindowMs));
      if (network.kind === 'delay') {
        assert.equal(network.baseDelayMs.length, 4);
        for (const ms of network.baseDelayMs) assert.ok(within(ms, SCHEDULE_BOUNDS.delayBaseMs));
      }
    }
    assert.deepEqual([...seen].sort(), [...FAULT_KINDS].sort());
    const onlyKills = new Prng(1);
    for (let i = 0; i < 20; i++)
      assert.equal(nextProcessFault(onlyKills, ['kill', 'delay'], 4)!.kind, 'kill');
    assert.equal(nextProcessFault(new Prng(1), ['delay', 'loss'], 4), null);
    assert.equal(nextNetworkFault(new Prng(1), ['kill'], 4), null);
  });

  it('reads a fault list: all, none, or known kinds', () => {
    assert.deepEqual(parseFaultList('all'), [...FAULT_KINDS]);
    assert.deepEqual(parseFaultList('none'), []);
    assert.deepEqual(parseFaultList('kill, delay,kill'), ['kill', 'delay']);
    assert.throws(() => parseFaultList('kill,partition'), { name: 'ChaosOptionError' });
  });
});
