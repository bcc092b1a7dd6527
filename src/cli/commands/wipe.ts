/**
 * `cretoai-node wipe`: moves a stopped node's store aside (or deletes it) so that it rejoins by state transfer.
 */
import type { Command } from 'commander';
import { loadNodeSettings } from '../../node/config.ts';
import { wipeNode } from '../admin.ts';
import type { Io } from '../cluster-commands.ts';
import { CliError } from '../errors.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** Adds `wipe` to `program`. */
export function addWipeCommand(program: Command, io: Io): void {
  program
    .command('wipe')
    .description("move a stopped node's store aside, so that it rejoins by state transfer at its next start")
    .requiredOption('--config <file>', 'the node configuration file')
    .option('--yes', 'confirm: the node forgets its store', false)
    .option('--delete', 'delete the store instead of moving it aside', false)
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: { config: string; yes: boolean; delete: boolean; json: boolean }) => {
      const settings = loadNodeSettings(options.config);
      if (!options.yes) {
        throw new CliError(
          `this makes ${settings.nodeId} forget its store in ${settings.dataDir} and rejoin by state transfer; pass --yes to go ahead`,
        );
      }
      const movedTo = wipeNode(settings, { delete: options.delete });
      if (options.json) {
        printJson(io, { dataDir: settings.dataDir, movedTo });
        return;
      }
      io.out(
        movedTo === null
          ? `${settings.dataDir} is gone; the node starts empty and catches up from its peers`
          : `moved ${settings.dataDir} to ${movedTo}; the node starts empty and catches up from its peers`,
      );
    });
}
