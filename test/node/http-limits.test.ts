/**
 * The HTTP connection caps as bookkeeping, without sockets: the total and per-address caps,
 * release, and the address keys (IPv6 counted by /64). The same limits on a real server are
 * tested in `http-connections.test.ts`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addressKey, ConnectionLimiter } from '../../src/node/http-limits.ts';
import type { ConnectionRefusal } from '../../src/node/node-metrics.ts';
import { ConfigError } from '../../src/protocol/errors.ts';
import { Prng } from '../../src/sim/prng.ts';

describe('ConnectionLimiter', () => {
  it('admits up to connectionsPerAddressMax from one address, then refuses it with "per-address" while others still get in', () => {
    const limiter = new ConnectionLimiter({ connectionsMax: 10, connectionsPerAddressMax: 3 });
    for (let i = 0; i < 3; i++) assert.equal(limiter.admit('10.0.0.1'), null);
    assert.equal(limiter.admit('10.0.0.1'), 'per-address');
    assert.equal(limiter.admit('10.0.0.2'), null);
    assert.equal(limiter.open, 4);
    assert.equal(limiter.openFrom('10.0.0.1'), 3);
    limiter.release('10.0.0.1');
    assert.equal(limiter.admit('10.0.0.1'), null, 'a released place is free again');
  });

  it('refuses every address with "total" once connectionsMax are open', () => {
    const limiter = new ConnectionLimiter({ connectionsMax: 4, connectionsPerAddressMax: 2 });
    for (const address of ['a', 'a', 'b', 'c']) assert.equal(limiter.admit(address), null);
    assert.equal(limiter.admit('d'), 'total');
    assert.equal(limiter.admit('a'), 'total', 'the total is checked first');
    limiter.release('b');
    assert.equal(limiter.admit('d'), null);
  });

  it('releasing a connection that was never admitted is a bug, and says so', () => {
    const limiter = new ConnectionLimiter({ connectionsMax: 4, connectionsPerAddressMax: 2 });
    assert.throws(() => limiter.release('a'), /never admitted/);
  });

  it('refuses limits that make no sense', () => {
    assert.throws(
      () => new ConnectionLimiter({ connectionsMax: 0, connectionsPerAddressMax: 1 }),
      ConfigError,
    );
    assert.throws(
      () => new ConnectionLimiter({ connectionsMax: 4, connectionsPerAddressMax: 5 }),
      ConfigError,
    );
    assert.throws(
      () => new ConnectionLimiter({ connectionsMax: 4, connectionsPerAddressMax: 1.5 }),
      ConfigError,
    );
  });

  it('random arrivals and departures: it agrees with a plain count, and forgets addresses with nothing open', () => {
    const seed = Number(process.env.HTTP_LIMITS_SEED ?? Math.floor(Math.random() * 0xffff_ffff));
    console.log(`# ConnectionLimiter: seed ${seed} (replay with HTTP_LIMITS_SEED=${seed})`);
    const prng = new Prng(seed);
    const connectionsMax = 1 + prng.int(50);
    const connectionsPerAddressMax = 1 + prng.int(connectionsMax);
    const limiter = new ConnectionLimiter({ connectionsMax, connectionsPerAddressMax });
    const addresses = Array.from({ length: 1 + prng.int(12) }, (_, i) => `10.0.0.${i}`);
    const open: string[] = [];
    for (let step = 0; step < 20_000; step++) {
      if (open.length > 0 && prng.chance(0.45)) {
        const [address] = open.splice(prng.int(open.length), 1);
        limiter.release(address!);
        continue;
      }
      const address = prng.pick(addresses);
      const fromAddress = open.filter((each) => each === address).length;
      const expected: ConnectionRefusal | null =
        open.length >= connectionsMax
          ? 'total'
          : fromAddress >= connectionsPerAddressMax
            ? 'per-address'
            : null;
      assert.equal(limiter.admit(address), expected, `seed ${seed}, step ${step}`);
      if (expected === null) open.push(address);
      assert.equal(limiter.open, open.length, `seed ${seed}, step ${step}`);
    }
    for (const address of open) limiter.release(address);
    assert.equal(limiter.open, 0);
    for (const address of addresses) assert.equal(limiter.openFrom(address), 0);
  });
});

describe('addressKey', () => {
  it('counts IPv4 by address, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    const cases: [string | undefined, string][] = [
      ['127.0.0.1', '127.0.0.1'],
      ['::ffff:127.0.0.1', '127.0.0.1'],
      ['::FFFF:10.1.2.3', '10.1.2.3'],
      ['::1', '0:0:0:0::/64'],
      ['::', '0:0:0:0::/64'],
      ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
      ['2001:0db8:0001:0002::', '2001:db8:1:2::/64'],
      ['2001:db8:1:2::9', '2001:db8:1:2::/64'],
      ['2001:DB8:1:2:ffff::1', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
      ['::1.2.3.4', '0:0:0:0::/64'],
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4::/64'],
      [undefined, 'unknown'],
    ];
    for (const [address, key] of cases) assert.equal(addressKey(address), key, String(address));
  });
});
