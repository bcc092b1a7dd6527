/**
 * Peer discovery from the cluster file: static addresses and DNS names, resolved again at
 * every call (never cached), with typed reasons when there is nothing to dial.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClusterDiscovery,
  type LookupFunction,
  PeerAddressError,
  parsePeerAddress,
} from '../../src/transport/discovery.ts';

describe('parsePeerAddress', () => {
  it('reads IPv4, bracketed IPv6 and DNS names with a port', () => {
    assert.deepEqual(parsePeerAddress('10.0.0.7:7000'), { host: '10.0.0.7', port: 7000 });
    assert.deepEqual(parsePeerAddress('[fd00::7]:7000'), { host: 'fd00::7', port: 7000 });
    assert.deepEqual(parsePeerAddress('node-2.cretoai.svc:7000'), { host: 'node-2.cretoai.svc', port: 7000 });
    assert.deepEqual(parsePeerAddress('node-2.cretoai.svc.cluster.local.:1'), {
      host: 'node-2.cretoai.svc.cluster.local.',
      port: 1,
    });
  });

  it('refuses what is not host:port, naming the text', () => {
    for (const text of [
      'node-2',
      'node-2:',
      ':7000',
      'node-2:0',
      'node-2:65536',
      'node-2:70x',
      'fd00::7:7000',
      '[fd00::7]7000',
      '[10.0.0.1]:7000',
      'bad host:7000',
      '-leading.dash:7000',
    ]) {
      assert.throws(
        () => parsePeerAddress(text),
        (error: unknown) => error instanceof PeerAddressError && error.text === text,
        text,
      );
    }
  });
});

describe('ClusterDiscovery', () => {
  it('returns an IP literal without a lookup', async () => {
    const lookup: LookupFunction = async () => assert.fail('no lookup for an IP literal');
    const discovery = new ClusterDiscovery({ b: '127.0.0.1:7001', c: '[::1]:7002' }, { lookup });
    assert.deepEqual(await discovery.resolve('b'), {
      ok: true,
      addresses: [{ ip: '127.0.0.1', port: 7001, family: 4 }],
    });
    assert.deepEqual(await discovery.resolve('c'), {
      ok: true,
      addresses: [{ ip: '::1', port: 7002, family: 6 }],
    });
  });

  it('resolves a DNS name at every call, so a moved peer is found at the next dial', async () => {
    const answers = [[{ address: '10.1.0.5', family: 4 }], [{ address: '10.1.0.9', family: 4 }]];
    const asked: string[] = [];
    const lookup: LookupFunction = async (hostname) => {
      asked.push(hostname);
      return answers.shift() ?? [];
    };
    const discovery = new ClusterDiscovery(new Map([['b', 'node-b.cretoai.svc:7000']]), { lookup });
    assert.deepEqual(await discovery.resolve('b'), {
      ok: true,
      addresses: [{ ip: '10.1.0.5', port: 7000, family: 4 }],
    });
    assert.deepEqual(await discovery.resolve('b'), {
      ok: true,
      addresses: [{ ip: '10.1.0.9', port: 7000, family: 4 }],
    });
    const empty = await discovery.resolve('b');
    assert.equal(empty.ok ? 'ok' : empty.code, 'no-records');
    assert.deepEqual(asked, ['node-b.cretoai.svc', 'node-b.cretoai.svc', 'node-b.cretoai.svc']);
  });

  it('reports a failed lookup and a validator without an address with a code', async () => {
    const lookup: LookupFunction = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND'), { code: 'ENOTFOUND' });
    };
    const discovery = new ClusterDiscovery({ b: 'gone.cretoai.svc:7000' }, { lookup });
    const failed = await discovery.resolve('b');
    assert.deepEqual(failed.ok ? null : [failed.code, failed.detail], [
      'dns-failure',
      'lookup of gone.cretoai.svc failed (ENOTFOUND)',
    ]);
    const missing = await discovery.resolve('c');
    assert.equal(missing.ok ? 'ok' : missing.code, 'no-address');
    assert.equal(discovery.dials('b'), true);
    assert.equal(discovery.dials('c'), false);
    discovery.setAddress('b', null);
    assert.equal(discovery.dials('b'), false);
  });

  it('resolves localhost through the system resolver by default', async () => {
    const resolved = await new ClusterDiscovery({ b: 'localhost:7000' }).resolve('b');
    assert.ok(resolved.ok);
    assert.ok(resolved.addresses.some((address) => address.ip === '127.0.0.1' || address.ip === '::1'));
  });
});
