/**
 * `cretoai-node backup`: a consistent snapshot of a node's store.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { loadNodeSettings } from '../../node/config.ts';
import { backupNode } from '../admin.ts';
import type { Io } from '../cluster-commands.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** Adds `backup` to `program`. */
export function addBackupCommand(program: Command, io: Io): void {
  program
    .command('backup')
    .description("write a consistent snapshot of a node's store (asks the node when it runs)")
    .requiredOption('--config <file>', 'the node configuration file')
    .requiredOption('--out <dir>', 'a new or empty directory for the backup')
    .option('--json', `${JSON_OPTION_HELP}: the manifest, with dir and via`, false)
    .action(async (options: { config: string; out: string; json: boolean }) => {
      const manifest = await backupNode(loadNodeSettings(options.config), options.out);
      if (options.json) {
        printJson(io, { dir: path.resolve(options.out), ...manifest });
        return;
      }
      io.out(
        `backup of ${manifest.clusterId} replica ${manifest.replica} written to ${path.resolve(options.out)} ` +
          `(finalized through at least sequence ${manifest.lastFinalized}, ${manifest.dataBytes} bytes, SHA-256 ${manifest.dataSha256}; ` +
          `${manifest.via === 'node' ? 'taken by the running node' : 'the node was stopped'})`,
      );
    });
}
