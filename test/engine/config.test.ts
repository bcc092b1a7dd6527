/**
 * Bad configuration is refused when the engine is constructed, with a ConfigError whose
 * `field` names the BftConfig field to fix.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureSimulationScheme, mlDsa87 } from '../../src/crypto/index.ts';
import { type BftConfig, BftEngine, ConfigError, resolveBftConfig } from '../../src/engine/index.ts';
import { MemoryStore } from '../../src/storage/index.ts';
import { MemoryNetwork } from '../../src/transport/index.ts';

const validators = ['a', 'b', 'c', 'd'];
const base: BftConfig = { nodeId: 'a', validators };

const cases: readonly [string, BftConfig][] = [
  ['nodeId', { ...base, nodeId: 'z' }],
  ['nodeId', { ...base, nodeId: '' }],
  ['validators', { nodeId: 'a' }],
  ['validators', { ...base, validators: [] }],
  ['validators', { ...base, validators: ['a', 'b', 'a'] }],
  ['totalNodes', { ...base, totalNodes: 7 }],
  ['totalNodes', { nodeId: '0', totalNodes: 0 }],
  ['clusterId', { ...base, clusterId: 'x'.repeat(65) }],
  ['quorumThreshold', { ...base, quorumThreshold: 0.5 }],
  ['quorumThreshold', { ...base, quorumThreshold: 1.5 }],
  ['quorumThreshold', { ...base, validators: [...validators, 'e', 'f', 'g'], quorumThreshold: 0.99 }],
  ['finalityTimeoutMs', { ...base, finalityTimeoutMs: 3000 }],
  ['finalityTimeoutMs', { ...base, finalityTimeoutMs: -1 }],
  ['viewChangeTimeoutMs', { ...base, viewChangeTimeoutMs: 0 }],
  ['byzantineDetectionEnabled', { ...base, byzantineDetectionEnabled: 'yes' as unknown as boolean }],
  ['checkpointInterval', { ...base, checkpointInterval: 0 }],
  ['watermarkWindow', { ...base, checkpointInterval: 16, watermarkWindow: 40 }],
  ['watermarkWindow', { ...base, checkpointInterval: 16, watermarkWindow: 16 }],
  ['pipelineDepth', { ...base, watermarkWindow: 32, pipelineDepth: 64 }],
  ['batchMaxVertices', { ...base, batchMaxVertices: 0 }],
  ['batchMaxBytes', { ...base, batchMaxBytes: 1.5 }],
  ['batchMaxDelayMs', { ...base, batchMaxDelayMs: -5 }],
  ['pendingProposalsMax', { ...base, pendingProposalsMax: 0 }],
  ['logRetention', { ...base, logRetention: 10 }],
  ['tickMs', { ...base, tickMs: 0 }],
  ['vertexPayloadBytesMax', { ...base, batchMaxBytes: 1024, vertexPayloadBytesMax: 2048 }],
  ['vertexParentsMax', { ...base, vertexParentsMax: 70_000 }],
  ['maxFrameBytes', { ...base, maxFrameBytes: 1 << 20 }],
  ['inboundFramesPerPeerMax', { ...base, inboundFramesPerPeerMax: 0 }],
  ['finalizedBufferMax', { ...base, finalizedBufferMax: 0 }],
  ['byzantine.banBelowTenths', { ...base, byzantine: { banBelowTenths: 11 } }],
  ['byzantine.penaltyTenths.treason', { ...base, byzantine: { penaltyTenths: { treason: 1 } as never } }],
];

for (const [field, config] of cases) {
  test(`bad config errors name the field: ${field} (${JSON.stringify(config).slice(0, 90)})`, () => {
    const keys = mlDsa87.keyPairFromSeed(new Uint8Array(32));
    const network = new MemoryNetwork();
    assert.throws(
      () => new BftEngine(config, keys, { transport: network.endpoint('a'), store: new MemoryStore() }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, String(error));
        assert.equal(error.field, field, error.message);
        return true;
      },
    );
  });
}

test('the frame limit is checked against the worst-case NEW-VIEW for n and the window', () => {
  const many = Array.from({ length: 31 }, (_, i) => `n${i}`);
  // 31 validators with ML-DSA-87 signatures and a window of 32: a NEW-VIEW would exceed 64 MiB.
  assert.throws(() => resolveBftConfig({ nodeId: 'n0', validators: many }, mlDsa87.signatureBytes), {
    name: 'ConfigError',
    field: 'maxFrameBytes',
  });
  // A smaller window fits.
  const resolved = resolveBftConfig(
    { nodeId: 'n0', validators: many, checkpointInterval: 4, watermarkWindow: 8 },
    mlDsa87.signatureBytes,
  );
  assert.equal(resolved.replica.watermarkWindow, 8);
});

test('defaults: the first design figures, mapped to ticks', () => {
  const resolved = resolveBftConfig({ nodeId: '2', totalNodes: 4 }, insecureSimulationScheme.signatureBytes);
  assert.deepEqual(resolved.validators, ['0', '1', '2', '3']);
  assert.equal(resolved.self, 2);
  assert.equal(resolved.finalityTimeoutMs, 500);
  assert.equal(resolved.viewChangeTimeoutMs, 2000);
  assert.equal(resolved.byzantineDetectionEnabled, true);
  assert.equal(resolved.replica.quorum, 3, 'quorum 2f + 1 = 3 of 4, as 0.67 of 4 gives');
  assert.equal(resolved.replica.viewChangeTimeoutTicks, 2000 / resolved.tickMs);
  assert.equal(resolved.replica.requestRetryTicks, 500 / resolved.tickMs);
  assert.equal(resolved.replica.batchCountMax, resolved.batchMaxVertices);
  assert.equal(resolveBftConfig({ ...base, quorumThreshold: 0.67 }, 16).replica.quorum, 3);
});
