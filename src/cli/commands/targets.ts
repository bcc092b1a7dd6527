/**
 * What the client commands (`status`, `submit`, `bench`) take from their options: the nodes to
 * talk to and the payload to submit.
 */
import fs from 'node:fs';
import { BftClient } from '../../client/client.ts';
import { loadClusterFile } from '../../client/cluster-file.ts';
import { CliError } from '../errors.ts';

/** The nodes to talk to: `--url` values, or the API URLs of `--cluster`. */
export function clientOf(options: { cluster?: string; url?: string[] }): BftClient {
  if (options.cluster !== undefined) {
    const cluster = loadClusterFile(options.cluster);
    return BftClient.fromClusterFile(cluster, options.url === undefined ? {} : { nodes: options.url });
  }
  if (options.url === undefined || options.url.length === 0) {
    throw new CliError('say which nodes to ask: --cluster <cluster.json> or --url <http://host:port>');
  }
  return new BftClient({ nodes: options.url });
}

/**
 * The API URL, among `nodes`, of the node the first one names as leader now: where a load
 * `--submit-to leader` goes.
 */
export async function leaderApiUrl(nodes: readonly string[]): Promise<string> {
  const client = new BftClient({ nodes });
  const leader = (await client.status(nodes[0])).leader;
  for (const node of nodes) if ((await client.status(node)).nodeId === leader) return node;
  throw new CliError(`the leader ${leader} has no API URL in the cluster file`);
}

/** The payload of `--data`, `--file` or `--hex`: exactly one of them. */
export function payloadOf(options: { data?: string; file?: string; hex?: string }): Uint8Array {
  const given = [options.data, options.file, options.hex].filter((value) => value !== undefined).length;
  if (given !== 1)
    throw new CliError('give the payload with exactly one of --data <text>, --file <path> or --hex <hex>');
  if (options.data !== undefined) return new TextEncoder().encode(options.data);
  if (options.file !== undefined) return new Uint8Array(fs.readFileSync(options.file));
  const hex = options.hex!;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new CliError('--hex must be an even number of hex digits');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
