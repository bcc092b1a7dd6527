/**
 * The run's cluster: created by `initCluster` in the run's directory, with a {@link LinkProxy}
 * in front of every node's consensus port when link faults are enabled (the cluster file lists
 * each node at its proxy; the node keeps listening on its real port), then opened as a
 * {@link LocalCluster}.
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePorts, initCluster } from '../src/cli/init.ts';
import { LocalCluster } from '../src/cli/local-cluster.ts';
import type { Clock } from '../src/shell/clock.ts';
import type { Prng } from '../src/sim/prng.ts';
import { LinkProxy } from './proxy.ts';

/** A node's start and stop deadlines in the run. */
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

const HOST = '127.0.0.1';

/** Creates the cluster in `dir`; the proxies are listening when this returns. */
export async function createCluster(options: {
  readonly dir: string;
  readonly nodes: number;
  readonly withProxies: boolean;
  readonly clock: Clock;
  readonly prng: Prng;
}): Promise<{ readonly cluster: LocalCluster; readonly proxies: LinkProxy[] | null }> {
  const { dir, nodes } = options;
  await initCluster({
    dir,
    nodes,
    host: HOST,
    // The run ends with a graceful stop once everything is checked: nothing is left to drain.
    nodeConfig: () => ({ shutdownDrainMs: 0 }),
  });
  let proxies: LinkProxy[] | null = null;
  if (options.withProxies) {
    const file = path.join(dir, 'cluster.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      validators: { address: string; api: string }[];
    };
    const realPorts = json.validators.map((validator) => Number(validator.address.split(':').at(-1)));
    const taken = new Set<number>([...realPorts, ...json.validators.map((v) => Number(new URL(v.api).port))]);
    const proxyPorts = await freePorts(nodes, HOST, 'tcp', taken);
    proxies = [];
    try {
      for (let i = 0; i < nodes; i++) {
        const proxy = new LinkProxy({
          host: HOST,
          port: proxyPorts[i]!,
          targetHost: HOST,
          targetPort: realPorts[i]!,
          clock: options.clock,
          prng: options.prng.fork(),
        });
        proxies.push(proxy);
        await proxy.listen();
      }
    } catch (error) {
      await Promise.all(proxies.map((proxy) => proxy.close()));
      throw error;
    }
    // Peers dial the proxy; each node's own configuration keeps `listen` at its real port.
    json.validators.forEach((validator, i) => {
      validator.address = `${HOST}:${proxyPorts[i]}`;
    });
    fs.writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  }
  const cluster = LocalCluster.open(dir, {
    startTimeoutMs: START_TIMEOUT_MS,
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  return { cluster, proxies };
}
