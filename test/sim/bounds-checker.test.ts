/**
 * The memory checker of the simulator: after each event it reads every engine's collections
 * (`engine.boundedSizes()`) and fails the run on one above its bound, naming the configured
 * figure the bound comes from; collections with no bound of their own report high-water marks.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedSizes } from '../../src/engine/bounds.ts';
import type { BftEngine, BoundedSize, BoundVisitor } from '../../src/engine/index.ts';
import { resolveBftConfig } from '../../src/engine/index.ts';
import { createReplica } from '../../src/protocol/index.ts';
import { BoundsChecker } from '../../src/sim/bounds-checker.ts';

function engineWith(sizes: BoundedSize[]): BftEngine {
  const visitBoundedSizes = (visit: BoundVisitor): void => {
    for (const { name, size, max, bound } of sizes) visit(name, size, max, bound);
  };
  return { visitBoundedSizes } as unknown as BftEngine;
}

test('the memory checker names the collection, its size, its bound and the configured figure behind it, once per replica', () => {
  const violations: string[] = [];
  const checker = new BoundsChecker((message) => violations.push(message));
  const over: BoundedSize = {
    name: 'verified signatures cached',
    size: 65,
    max: 64,
    bound: 'verifiedCacheMax',
  };
  checker.check(2, engineWith([over]));
  checker.check(2, engineWith([over]));
  checker.check(3, engineWith([{ ...over, size: 64 }]));
  assert.deepEqual(violations, [
    'memory: replica 2 holds 65 verified signatures cached, above 64 (verifiedCacheMax)',
  ]);
});

test('collections without a configured bound are not failed, and their high-water marks are kept', () => {
  const violations: string[] = [];
  const checker = new BoundsChecker((message) => violations.push(message));
  const unbounded = (size: number): BoundedSize => ({
    name: 'messages being signed or sent',
    size,
    max: null,
    bound: 'none configured',
  });
  checker.check(0, engineWith([unbounded(7)]));
  checker.check(1, engineWith([unbounded(3)]));
  assert.deepEqual(violations, []);
  assert.deepEqual(checker.highWater, { 'messages being signed or sent': 7 });
});

test('every bound the engine reports names a configured figure or what limits it instead', () => {
  const config = resolveBftConfig({ nodeId: 'a', validators: ['a', 'b', 'c', 'd'], clusterId: 'bounds' }, 16);
  const sizes = boundedSizes({
    config,
    state: createReplica(config.replica),
    inboundWaiting: 0,
    inboundLongestSender: 0,
    verifierCached: 0,
    verifierInFlight: 0,
    outboundSize: 0,
    releasesSize: 0,
    inputsQueued: 0,
    writesInFlight: 0,
    proposalsPending: 0,
    proposalsRecent: 0,
    proposalsRecentMax: 16,
    batcherVertices: 0,
    banned: 0,
    evidence: 0,
  });
  assert.ok(sizes.length > 20);
  for (const { name, max, bound } of sizes) {
    assert.ok(bound.length > 0, name);
    if (max === null) assert.match(bound, /^none configured/, name);
    else assert.ok(max > 0, `${name}: ${max}`);
  }
  assert.equal(new Set(sizes.map((size) => size.name)).size, sizes.length, 'names are unique');
});
