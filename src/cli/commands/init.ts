/**
 * `cretoai-node init`: the keys, cluster file and node configurations of a cluster on one machine.
 */
import { type Command, Option } from 'commander';
import type { Io } from '../cluster-commands.ts';
import { initCluster } from '../init.ts';
import { JSON_OPTION_HELP, printJson, transportOption, wholeNumber } from './options.ts';

/** Adds `init` to `program`. */
export function addInitCommand(program: Command, io: Io): void {
  program
    .command('init')
    .description(
      'create keys, a cluster file and one node configuration per node, for a cluster on one machine',
    )
    .requiredOption('--dir <dir>', 'the directory to create the cluster in (must not hold one)')
    .addOption(new Option('--nodes <n>', 'number of validators').argParser(wholeNumber(1, 100)).default(4))
    .option('--cluster-id <id>', 'the cluster id (default: local-<random>)')
    .option('--host <ip>', 'the address every node listens on and is reached at', '127.0.0.1')
    .addOption(transportOption())
    .addOption(
      new Option(
        '--port-base <port>',
        'node i uses consensus port base+i and HTTP port base+100+i (default: free ports)',
      ).argParser(wholeNumber(1, 65_000)),
    )
    .option('--json', JSON_OPTION_HELP, false)
    .action(
      async (options: {
        dir: string;
        nodes: number;
        clusterId?: string;
        host: string;
        portBase?: number;
        transport: 'tcp' | 'quic';
        json: boolean;
      }) => {
        const created = await initCluster({
          dir: options.dir,
          nodes: options.nodes,
          host: options.host,
          transport: options.transport,
          ...(options.clusterId === undefined ? {} : { clusterId: options.clusterId }),
          ...(options.portBase === undefined ? {} : { portBase: options.portBase }),
        });
        for (const warning of created.warnings) io.err(`warning: ${warning}`);
        if (options.json) {
          printJson(io, {
            dir: created.dir,
            clusterFile: created.clusterFile,
            clusterId: created.clusterId,
            faultTolerance: created.faultTolerance,
            operatorKeyFile: created.operatorKeyFile,
            nodes: created.nodeIds.map((nodeId, i) => ({
              nodeId,
              config: created.configFiles[i],
              address: created.addresses[i],
              api: created.apiUrls[i],
            })),
            warnings: created.warnings,
          });
          return;
        }
        io.out(`created a cluster of ${created.nodeIds.length} nodes in ${created.dir}`);
        io.out(`  cluster file: ${created.clusterFile}`);
        for (const [i, file] of created.configFiles.entries())
          io.out(`  ${created.nodeIds[i]}: ${file}  API ${created.apiUrls[i]}`);
        io.out(
          `  operator key: ${created.operatorKeyFile}  (signs validator changes; no node needs it: keep it elsewhere)`,
        );
        io.out(
          `start each with: cretoai-node start --config ${created.configFiles[0]}  (or all at once: cretoai-node up --dir ${created.dir})`,
        );
      },
    );
}
