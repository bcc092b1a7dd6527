/**
 * Loading a node's configuration: a mistake in the node configuration, the cluster file, the key
 * or the engine figures is reported before anything starts, naming the file and the field.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  ClusterFileError,
  loadClusterFile,
  normalizePeerAddress,
  parsePublicKey,
} from '../../src/client/cluster-file.ts';
import { importPrivateKeyPem } from '../../src/crypto/index.ts';
import { loadNodeSettings, NodeConfigError } from '../../src/node/config.ts';
import { KeyFilePermissionError, readPrivateKeyFile } from '../../src/node/key-file.ts';
import { epochZero } from '../../src/reconfig/epoch.ts';
import { requestPayload } from '../../src/reconfig/reader.ts';
import { proposeRequest, signRequest } from '../../src/reconfig/request.ts';
import { formatRequestFile } from '../../src/reconfig/request-file.ts';
import { parsePeerAddress } from '../../src/transport/discovery.ts';
import { clusterDir, editConfig } from './support.ts';

function assertNames(kind: typeof NodeConfigError | typeof ClusterFileError, file: string, field: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof kind, `expected a ${kind.name}, got ${String(error)}`);
    assert.equal(error.field, field, error.message);
    assert.equal(error.file, file);
    assert.ok(error.message.includes(file) && error.message.includes(field), error.message);
    return true;
  };
}

describe('node configuration', () => {
  it('a joiner names the epoch it joins by a chain of requests, each checked, the last one adding it', async (t) => {
    // Five nodes' keys and configurations; the cluster file keeps four, node-4 is added later.
    const cluster = await clusterDir(t, 5);
    const json = JSON.parse(fs.readFileSync(cluster.clusterFile, 'utf8')) as { validators: unknown[] };
    const [fifth] = loadClusterFile(cluster.clusterFile).validators.slice(4);
    fs.writeFileSync(
      cluster.clusterFile,
      JSON.stringify({ ...json, validators: json.validators.slice(0, 4) }),
    );
    const zero = epochZero(loadClusterFile(cluster.clusterFile));
    const operator = importPrivateKeyPem(readPrivateKeyFile(cluster.operatorKeyFile));
    const add = signRequest(proposeRequest(zero, [{ op: 'add', validator: fifth! }]), zero, operator);
    const requestFile = path.join(path.dirname(cluster.clusterFile), 'add.json');
    fs.writeFileSync(requestFile, formatRequestFile(add));
    assert.throws(
      () => loadNodeSettings(cluster.configFiles[4]!),
      assertNames(NodeConfigError, cluster.configFiles[4]!, 'nodeId'),
      'without a chain, node-4 is no validator',
    );
    editConfig(cluster, 4, (config) => Object.assign(config, { chain: [requestFile] }));
    const settings = loadNodeSettings(cluster.configFiles[4]!);
    assert.equal(settings.joining?.epoch, 1);
    assert.equal(settings.replica, 4, 'its id in the epoch it joins');
    assert.deepEqual(settings.joining?.opening, requestPayload(add));
    assert.equal(settings.resolved.self, -1, 'a learner until then');
    // A chain that does not add it, or one a stranger signed, is refused naming the field.
    editConfig(cluster, 3, (config) => Object.assign(config, { chain: [requestFile] }));
    assert.equal(
      loadNodeSettings(cluster.configFiles[3]!).joining?.epoch,
      1,
      'a replacement on an empty disk',
    );
    const forged = {
      ...add,
      signatures: add.signatures.map((each) => ({
        ...each,
        signature: new Uint8Array(each.signature.length),
      })),
    };
    fs.writeFileSync(requestFile, formatRequestFile(forged));
    assert.throws(
      () => loadNodeSettings(cluster.configFiles[4]!),
      assertNames(NodeConfigError, cluster.configFiles[4]!, 'chain'),
    );
    editConfig(cluster, 4, (config) =>
      Object.assign(config, { chain: [path.join(path.dirname(requestFile), 'missing.json')] }),
    );
    assert.throws(
      () => loadNodeSettings(cluster.configFiles[4]!),
      assertNames(NodeConfigError, cluster.configFiles[4]!, 'chain'),
    );
  });

  it('a configuration init wrote loads, with the engine figures merged and resolved', async (t) => {
    const cluster = await clusterDir(t, 4);
    const settings = loadNodeSettings(cluster.configFiles[2]!);
    assert.equal(settings.nodeId, 'node-2');
    assert.equal(settings.replica, 2);
    assert.deepEqual(settings.resolved.validators, ['node-0', 'node-1', 'node-2', 'node-3']);
    assert.equal(settings.resolved.logRetention, 100_000);
    assert.equal(settings.transport.protocol, 'tcp');
    assert.equal(settings.transport.listen.host, '127.0.0.1');
    assert.ok(settings.dataDir.endsWith('data/node-2'));
    assert.equal(settings.logLevel, 'info');
    assert.equal(settings.logFormat, null, 'no format: pretty on a terminal, JSON elsewhere');
    editConfig(cluster, 2, (config) => Object.assign(config, { logFormat: 'pretty', logLevel: 'debug' }));
    const pretty = loadNodeSettings(cluster.configFiles[2]!);
    assert.deepEqual([pretty.logFormat, pretty.logLevel], ['pretty', 'debug']);
  });

  it('a node batches proposals for 25 ms, up to 4,096 vertices, two sequences in flight, the second once a batch count of vertices waits, unless its configuration or the cluster file says otherwise', async (t) => {
    const cluster = await clusterDir(t, 4);
    const defaults = loadNodeSettings(cluster.configFiles[0]!).resolved;
    assert.equal(defaults.batchMaxDelayMs, 25);
    assert.equal(defaults.replica.pipelineDepth, 2);
    assert.equal(defaults.replica.pipelineFillCount, 4096);
    assert.equal(defaults.batchMaxVertices, 4096);
    // The fill default follows the batch size; a fill set above the batch is refused.
    editConfig(cluster, 3, (config) => {
      config.engine = { ...(config.engine as object), batchMaxVertices: 100 };
    });
    assert.equal(loadNodeSettings(cluster.configFiles[3]!).resolved.replica.pipelineFillCount, 100);
    editConfig(cluster, 3, (config) => {
      config.engine = { ...(config.engine as object), pipelineFillVertices: 101 };
    });
    assert.throws(
      () => loadNodeSettings(cluster.configFiles[3]!),
      (error: unknown) => error instanceof Error && error.message.includes('engine.pipelineFillVertices'),
    );
    editConfig(cluster, 1, (config) => {
      config.engine = { ...(config.engine as object), batchMaxDelayMs: 3 };
    });
    assert.equal(loadNodeSettings(cluster.configFiles[1]!).resolved.batchMaxDelayMs, 3);
    const clusterFile = JSON.parse(fs.readFileSync(cluster.clusterFile, 'utf8'));
    clusterFile.consensus = { batchMaxDelayMs: 7, pipelineDepth: 3 };
    fs.writeFileSync(cluster.clusterFile, JSON.stringify(clusterFile, null, 2));
    assert.equal(loadNodeSettings(cluster.configFiles[2]!).resolved.batchMaxDelayMs, 7);
    assert.equal(loadNodeSettings(cluster.configFiles[2]!).resolved.replica.pipelineDepth, 3);
    assert.equal(loadNodeSettings(cluster.configFiles[1]!).resolved.batchMaxDelayMs, 3);
  });

  it('the HTTP API has connection caps and deadlines by default, and takes others from the file', async (t) => {
    const cluster = await clusterDir(t, 1);
    const defaults = loadNodeSettings(cluster.configFiles[0]!).http;
    assert.equal(defaults.connectionsMax, 1024);
    assert.equal(defaults.connectionsPerAddressMax, 64);
    assert.equal(defaults.headersTimeoutMs, 10_000);
    assert.equal(defaults.requestTimeoutMs, 60_000);
    assert.equal(defaults.keepAliveTimeoutMs, 5_000);
    assert.equal(defaults.socketIdleTimeoutMs, 30_000);
    assert.equal(defaults.backupCheckTimeoutMs, 10_000);
    editConfig(cluster, 0, (config) => {
      config.http = {
        ...(config.http as object),
        connectionsMax: 10,
        connectionsPerAddressMax: 10,
        eventClientsMax: 9,
        headersTimeoutMs: 5,
        requestTimeoutMs: 5,
        keepAliveTimeoutMs: 7,
        socketIdleTimeoutMs: 8,
      };
    });
    const set = loadNodeSettings(cluster.configFiles[0]!).http;
    assert.deepEqual(
      [
        set.connectionsMax,
        set.connectionsPerAddressMax,
        set.eventClientsMax,
        set.headersTimeoutMs,
        set.requestTimeoutMs,
        set.keepAliveTimeoutMs,
        set.socketIdleTimeoutMs,
      ],
      [10, 10, 9, 5, 5, 7, 8],
    );
  });

  it('quorum changes are logged after 2 s and the store is scrubbed at 10,000 reads/s, unless the file says otherwise', async (t) => {
    const cluster = await clusterDir(t, 1);
    const defaults = loadNodeSettings(cluster.configFiles[0]!);
    assert.equal(defaults.quorumDebounceMs, 2000);
    assert.deepEqual(defaults.scrub, {
      enabled: true,
      readsPerSecond: 10_000,
      bytesPerSecond: 32 << 20,
      passIntervalMs: 3_600_000,
    });
    editConfig(cluster, 0, (config) =>
      Object.assign(config, { quorumDebounceMs: 0, scrub: { enabled: false, passIntervalMs: 60_000 } }),
    );
    const set = loadNodeSettings(cluster.configFiles[0]!);
    assert.equal(set.quorumDebounceMs, 0);
    assert.deepEqual(set.scrub, {
      enabled: false,
      readsPerSecond: 10_000,
      bytesPerSecond: 32 << 20,
      passIntervalMs: 60_000,
    });

    const file = cluster.configFiles[0]!;
    const original = fs.readFileSync(file, 'utf8');
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [
        { quorumDebounceMs: 600_001 },
        'quorumDebounceMs',
        /quorumDebounceMs: must be an integer in \[0, 600000\], got 600001$/,
      ],
      [{ quorumDebounceMs: 1.5 }, 'quorumDebounceMs', /got 1\.5$/],
      [{ scrub: true }, 'scrub', /scrub: must be an object, got true$/],
      [{ scrub: { enabled: 'no' } }, 'scrub.enabled', /scrub\.enabled: must be true or false, got "no"$/],
      [
        { scrub: { readsPerSecond: 0 } },
        'scrub.readsPerSecond',
        /scrub\.readsPerSecond: must be an integer in \[1, 100000000\], got 0$/,
      ],
      [
        { scrub: { bytesPerSecond: '32MiB' } },
        'scrub.bytesPerSecond',
        /scrub\.bytesPerSecond: must be an integer in \[1, 1099511627776\], got "32MiB"$/,
      ],
      [
        { scrub: { passIntervalMs: 7 * 86_400_000 + 1 } },
        'scrub.passIntervalMs',
        /scrub\.passIntervalMs: must be an integer in \[1, 604800000\], got 604800001$/,
      ],
      [
        { scrub: { chunkReadsMax: 10 } },
        'scrub.chunkReadsMax',
        /scrub\.chunkReadsMax: is not a known field$/,
      ],
    ];
    for (const [edit, field, message] of cases) {
      fs.writeFileSync(file, original);
      editConfig(cluster, 0, (config) => Object.assign(config, edit));
      assert.throws(() => loadNodeSettings(file), assertNames(NodeConfigError, file, field), field);
      assert.throws(() => loadNodeSettings(file), message);
    }
  });

  it('errors name the node configuration file and the field', async (t) => {
    const cluster = await clusterDir(t, 4);
    const file = cluster.configFiles[1]!;
    const cases: [string, (config: Record<string, unknown>) => void, string][] = [
      ['an unknown field', (config) => Object.assign(config, { colour: 'blue' }), 'colour'],
      ['a node id not in the cluster', (config) => Object.assign(config, { nodeId: 'node-9' }), 'nodeId'],
      [
        'a listen address without a port',
        (config) => Object.assign(config, { listen: '127.0.0.1' }),
        'listen',
      ],
      [
        'an HTTP listen address that is not one',
        (config) => Object.assign(config, { http: { listen: 12 } }),
        'http.listen',
      ],
      ['an unknown HTTP field', (config) => Object.assign(config, { http: { port: 1 } }), 'http.port'],
      [
        'a body limit below 1 KiB',
        (config) => Object.assign(config, { http: { maxBodyBytes: 10 } }),
        'http.maxBodyBytes',
      ],
      [
        "another node's key",
        (config) => Object.assign(config, { privateKey: 'keys/node-0.key.pem' }),
        'privateKey',
      ],
      [
        'a key file that is missing',
        (config) => Object.assign(config, { privateKey: 'keys/none.pem' }),
        'privateKey',
      ],
      [
        'an engine figure out of range',
        (config) => Object.assign(config, { engine: { batchMaxVertices: 0 } }),
        'engine.batchMaxVertices',
      ],
      [
        'an engine field that is not one',
        (config) => Object.assign(config, { engine: { nodeId: 'x' } }),
        'engine.nodeId',
      ],
      [
        'a transport that is not one',
        (config) => Object.assign(config, { transport: { protocol: 'udp' } }),
        'transport.protocol',
      ],
      [
        'the retired tls field (the transport encrypts every connection itself)',
        (config) => Object.assign(config, { tls: { key: 'a', cert: 'b' } }),
        'tls',
      ],
      ['a log level that is not one', (config) => Object.assign(config, { logLevel: 'loud' }), 'logLevel'],
      ['a log format that is not one', (config) => Object.assign(config, { logFormat: 'xml' }), 'logFormat'],
      [
        // Both unknown and missing: the unknown spelling is the one that points at the typo.
        'a misspelt field',
        (config) => {
          config.nodeid = config.nodeId;
          delete config.nodeId;
        },
        'nodeid',
      ],
      ['a missing field', (config) => delete config.dataDir, 'dataDir'],
      [
        'an engine figure of the wrong type',
        (config) => Object.assign(config, { engine: { tickMs: '10ms' } }),
        'engine.tickMs',
      ],
      [
        'no connections at all',
        (config) => Object.assign(config, { http: { connectionsMax: 0 } }),
        'http.connectionsMax',
      ],
      [
        'more connections per address than in total',
        (config) => Object.assign(config, { http: { connectionsMax: 100, connectionsPerAddressMax: 101 } }),
        'http.connectionsPerAddressMax',
      ],
      [
        'event streams that could take every connection',
        (config) => Object.assign(config, { http: { connectionsMax: 64, eventClientsMax: 64 } }),
        'http.eventClientsMax',
      ],
      [
        'a head deadline longer than the request deadline',
        (config) => Object.assign(config, { http: { headersTimeoutMs: 5000, requestTimeoutMs: 4000 } }),
        'http.headersTimeoutMs',
      ],
      [
        'no keep-alive deadline',
        (config) => Object.assign(config, { http: { keepAliveTimeoutMs: 0 } }),
        'http.keepAliveTimeoutMs',
      ],
      [
        'no time for the backup path check',
        (config) => Object.assign(config, { http: { backupCheckTimeoutMs: 0 } }),
        'http.backupCheckTimeoutMs',
      ],
      [
        'an idle timeout that is not a number',
        (config) => Object.assign(config, { http: { socketIdleTimeoutMs: '30s' } }),
        'http.socketIdleTimeoutMs',
      ],
    ];
    const original = fs.readFileSync(file, 'utf8');
    for (const [name, edit, field] of cases) {
      fs.writeFileSync(file, original);
      editConfig(cluster, 1, edit);
      assert.throws(() => loadNodeSettings(file), assertNames(NodeConfigError, file, field), name);
    }
    fs.writeFileSync(file, '{ "nodeId": ');
    assert.throws(() => loadNodeSettings(file), assertNames(NodeConfigError, file, ''));
    assert.throws(
      () => loadNodeSettings(`${file}.missing`),
      (error: unknown) => error instanceof NodeConfigError,
    );
  });

  it('errors say what was expected and what the file holds', async (t) => {
    const cluster = await clusterDir(t, 1);
    const file = cluster.configFiles[0]!;
    const original = fs.readFileSync(file, 'utf8');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ transport: { protocol: 'udp' } }, /transport\.protocol: must be one of "tcp", "quic", got "udp"$/],
      [
        { http: { socketIdleTimeoutMs: '30s' } },
        /http\.socketIdleTimeoutMs: must be an integer in \[1, 3600000\], got "30s"$/,
      ],
      [{ http: { admin: 'yes' } }, /http\.admin: must be true or false, got "yes"$/],
      [{ listen: '127.0.0.1' }, /listen: must be host:port \(.*\)$/],
      [{ colour: 'blue' }, /colour: is not a known field$/],
      [{ nodeId: '' }, /nodeId: must be a non-empty string$/],
    ];
    for (const [edit, message] of cases) {
      fs.writeFileSync(file, original);
      editConfig(cluster, 0, (config) => Object.assign(config, edit));
      assert.throws(() => loadNodeSettings(file), message);
    }
    fs.writeFileSync(file, original);
    editConfig(cluster, 0, (config) => delete config.dataDir);
    assert.throws(() => loadNodeSettings(file), /dataDir: is required: a non-empty string$/);
  });

  it('errors in the cluster file name it and the field', async (t) => {
    const cluster = await clusterDir(t, 4);
    const file = cluster.clusterFile;
    const original = JSON.parse(fs.readFileSync(file, 'utf8'));
    const cases: [
      string,
      (json: Record<string, unknown> & { validators: Record<string, unknown>[] }) => void,
      string,
    ][] = [
      [
        'a public key that is not one',
        (json) => Object.assign(json.validators[1]!, { publicKey: 'abcd' }),
        'validators[1].publicKey',
      ],
      [
        'a node id twice',
        (json) => Object.assign(json.validators[2]!, { nodeId: 'node-0' }),
        'validators[2].nodeId',
      ],
      [
        'an address without a port',
        (json) => Object.assign(json.validators[3]!, { address: 'node-3' }),
        'validators[3].address',
      ],
      [
        'an API URL that is not one',
        (json) => Object.assign(json.validators[0]!, { api: 'ftp://x' }),
        'validators[0].api',
      ],
      ['no cluster id', (json) => Object.assign(json, { clusterId: '' }), 'clusterId'],
      [
        'a consensus field that is not one',
        (json) => Object.assign(json, { consensus: { speed: 'fast' } }),
        'consensus.speed',
      ],
      [
        'a consensus figure that is unsafe',
        (json) => Object.assign(json, { consensus: { quorumThreshold: 0.5 } }),
        'consensus.quorumThreshold',
      ],
    ];
    for (const [name, edit, field] of cases) {
      const json = structuredClone(original);
      edit(json);
      fs.writeFileSync(file, JSON.stringify(json));
      assert.throws(
        () => loadNodeSettings(cluster.configFiles[0]!),
        assertNames(ClusterFileError, file, field),
        name,
      );
    }
    // A public key in raw hex is as good as PEM.
    const json = structuredClone(original);
    const { parsePublicKey } = await import('../../src/client/cluster-file.ts');
    json.validators[1].publicKey = Buffer.from(parsePublicKey(json.validators[1].publicKey).raw).toString(
      'hex',
    );
    fs.writeFileSync(file, JSON.stringify(json));
    assert.equal(loadNodeSettings(cluster.configFiles[1]!).nodeId, 'node-1');
  });

  it('every validator needs its own key, address and id: a repeat is refused, naming both entries', async (t) => {
    const cluster = await clusterDir(t, 4);
    const file = cluster.clusterFile;
    const original = JSON.parse(fs.readFileSync(file, 'utf8'));
    const port = (i: number) => Number(original.validators[i].address.split(':').pop());
    const cases: [string, (validators: Record<string, unknown>[]) => void, string, string][] = [
      [
        // Its holder would cast 2 of the 4 votes, where f = 1.
        "a key listed twice (validators[3] holds node-1's key)",
        (validators) => Object.assign(validators[3]!, { publicKey: validators[1]!.publicKey }),
        'validators[3].publicKey',
        'validators[1] (node-1)',
      ],
      [
        'a key listed twice, once as PEM and once as hex',
        (validators) =>
          Object.assign(validators[2]!, {
            publicKey: Buffer.from(parsePublicKey(validators[0]!.publicKey as string).raw).toString('hex'),
          }),
        'validators[2].publicKey',
        'validators[0] (node-0)',
      ],
      [
        'an address listed twice',
        (validators) => Object.assign(validators[2]!, { address: validators[0]!.address }),
        'validators[2].address',
        'validators[0] (node-0)',
      ],
      [
        'an address listed twice, once spelled as an IPv4-mapped IPv6 address',
        (validators) => Object.assign(validators[3]!, { address: `[::ffff:127.0.0.1]:${port(1)}` }),
        'validators[3].address',
        'validators[1] (node-1)',
      ],
      [
        'a node id listed twice',
        (validators) => Object.assign(validators[3]!, { nodeId: 'node-1' }),
        'validators[3].nodeId',
        'validators[1] (node-1)',
      ],
    ];
    for (const [name, edit, field, first] of cases) {
      const json = structuredClone(original);
      edit(json.validators);
      fs.writeFileSync(file, JSON.stringify(json));
      assert.throws(
        () => loadNodeSettings(cluster.configFiles[0]!),
        (error: unknown) =>
          assertNames(ClusterFileError, file, field)(error) &&
          (error as Error).message.includes(first) &&
          (error as Error).message.includes('every validator needs its own'),
        name,
      );
    }
    // Two DNS names are compared as written: a name and the address it may resolve to are
    // different entries (resolving them here would make the check depend on the resolver).
    const json = structuredClone(original);
    json.validators[3].address = `localhost:${port(0)}`;
    fs.writeFileSync(file, JSON.stringify(json));
    assert.equal(
      loadNodeSettings(cluster.configFiles[0]!).cluster.validators[3]!.address,
      `localhost:${port(0)}`,
    );
  });

  it("the operators: init names one, threshold 1; a threshold above the keys, a key twice or a validator's key is refused", async (t) => {
    const cluster = await clusterDir(t, 4);
    const file = cluster.clusterFile;
    const loaded = loadNodeSettings(cluster.configFiles[0]!).cluster;
    assert.equal(loaded.operators?.keys.length, 1);
    assert.equal(loaded.operators?.threshold, 1);
    const original = JSON.parse(fs.readFileSync(file, 'utf8'));
    const operatorKey = original.operators.keys[0];
    type ClusterJson = {
      operators: { keys: string[]; threshold: number };
      validators: { publicKey: string }[];
    };
    const cases: [string, (json: ClusterJson) => void, string, RegExp][] = [
      [
        'a threshold above the keys',
        (json) => Object.assign(json.operators, { threshold: 2 }),
        'operators.threshold',
        /is 2, but there are only 1 operator keys/,
      ],
      [
        'a threshold of 0',
        (json) => Object.assign(json.operators, { threshold: 0 }),
        'operators.threshold',
        /at least 1/,
      ],
      [
        'an operator key twice',
        (json) => Object.assign(json.operators, { keys: [operatorKey, operatorKey] }),
        'operators.keys[1]',
        /the same key as operators\.keys\[0\]/,
      ],
      [
        "a validator's key as an operator key",
        (json) => Object.assign(json.operators, { keys: [json.validators[2]!.publicKey] }),
        'operators.keys[0]',
        /the same key as validators\[2\] \(node-2\): an operator key must not be a validator's/,
      ],
      ['no keys', (json) => Object.assign(json.operators, { keys: [] }), 'operators.keys', /non-empty list/],
    ];
    for (const [name, edit, field, message] of cases) {
      const json = structuredClone(original);
      edit(json);
      fs.writeFileSync(file, JSON.stringify(json));
      assert.throws(
        () => loadNodeSettings(cluster.configFiles[0]!),
        (error: unknown) =>
          assertNames(ClusterFileError, file, field)(error) && message.test((error as Error).message),
        name,
      );
    }
    // Without operators the file loads: nobody can reconfigure that cluster.
    const json = structuredClone(original);
    delete json.operators;
    fs.writeFileSync(file, JSON.stringify(json));
    assert.equal(loadNodeSettings(cluster.configFiles[0]!).cluster.operators, undefined);
  });

  it('addresses are compared in one spelling per host and port', () => {
    const spelling = (text: string) => normalizePeerAddress(parsePeerAddress(text));
    assert.equal(spelling('[0:0:0:0:0:0:0:1]:7100'), spelling('[::1]:7100'));
    assert.equal(spelling('[2001:DB8::0:1]:7100'), '[2001:db8::1]:7100');
    assert.equal(spelling('[::ffff:10.0.0.1]:7100'), '10.0.0.1:7100');
    assert.equal(spelling('10.0.0.1:07100'), '10.0.0.1:7100');
    assert.equal(spelling('Node-1.Peers.example.:7100'), 'node-1.peers.example:7100');
    // A link-local address on two interfaces is two places.
    assert.notEqual(spelling('[fe80::1%eth0]:7100'), spelling('[fe80::1%eth1]:7100'));
    assert.notEqual(spelling('10.0.0.1:7100'), spelling('10.0.0.1:7101'));
  });
});

/** File modes say who may read a key on POSIX systems only. */
const POSIX_ONLY = process.platform === 'win32' ? 'Windows has no POSIX file modes' : false;

describe('private key file permissions', { skip: POSIX_ONLY }, () => {
  it('a key file others can read is refused, naming the file, its mode in octal and the fix; 0600 and 0400 load', async (t) => {
    const cluster = await clusterDir(t, 4);
    const config = cluster.configFiles[1]!;
    const keyFile = path.join(cluster.dir, 'keys', 'node-1.key.pem');
    // init writes the key owner-only.
    assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
    for (const mode of [0o644, 0o640, 0o604, 0o660, 0o601]) {
      fs.chmodSync(keyFile, mode);
      const octal = `0${mode.toString(8)}`;
      assert.throws(
        () => loadNodeSettings(config),
        (error: unknown) => {
          assertNames(NodeConfigError, config, 'privateKey')(error);
          const cause = (error as Error).cause;
          assert.ok(cause instanceof KeyFilePermissionError, String(cause));
          assert.equal(cause.code, 'key-file-too-open');
          assert.equal(cause.mode & 0o777, mode);
          const message = (error as Error).message;
          assert.ok(message.includes(`${keyFile} has mode ${octal}`), message);
          assert.ok(message.includes(`chmod 600 ${keyFile}`), message);
          return true;
        },
        octal,
      );
    }
    for (const mode of [0o600, 0o400]) {
      fs.chmodSync(keyFile, mode);
      assert.equal(loadNodeSettings(config).nodeId, 'node-1', `0${mode.toString(8)}`);
    }
  });
});
