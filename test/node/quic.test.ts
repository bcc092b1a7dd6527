/**
 * The node over QUIC: four nodes configured with `"transport": { "protocol": "quic" }` connect
 * over UDP on loopback, authenticate with ML-DSA-87, and finalize a vertex whose certificate the
 * client checks.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BftClient } from '../../src/client/client.ts';
import { loadClusterFile } from '../../src/client/cluster-file.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { Logger } from '../../src/node/log.ts';
import { CretoaiNode } from '../../src/node/node.ts';
import { skipWithoutQuic } from '../support/quic.ts';
import { clusterDir } from './support.ts';

describe('nodes over QUIC', { timeout: 60_000, skip: await skipWithoutQuic() }, () => {
  it('four nodes over QUIC finalize a vertex; its certificate checks out', async (t) => {
    const cluster = await clusterDir(t, 4, { transport: 'quic' });
    const nodes = await Promise.all(
      cluster.configFiles.map((file) =>
        CretoaiNode.start(loadNodeSettings(file), {
          logger: new Logger('quic', 'error', { sink: () => undefined }),
        }),
      ),
    );
    // Stopped together: a QUIC transport stopped while only one peer is still up takes the QUIC
    // idle timeout (10 s) to close.
    t.after(() => Promise.all(nodes.map((node) => node.stop())));
    assert.equal(nodes[0]!.settings.transport.protocol, 'quic');
    const client = BftClient.fromClusterFile(loadClusterFile(cluster.clusterFile));
    const { hash } = await client.submit({ payload: new TextEncoder().encode('over QUIC') }, { to: 'all' });
    const final = await client.waitFinal(hash, { proof: 'certificate' });
    assert.ok(final.sequence >= 1);
    const status = await client.status();
    assert.equal(status.peers.length, 3);
  });
});
