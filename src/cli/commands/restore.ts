/**
 * `cretoai-node restore`: checks a backup and installs it as a stopped node's store.
 */
import type { Command } from 'commander';
import { loadNodeSettings } from '../../node/config.ts';
import { restoreNode } from '../admin.ts';
import type { Io } from '../cluster-commands.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** Adds `restore` to `program`. */
export function addRestoreCommand(program: Command, io: Io): void {
  program
    .command('restore')
    .description("check a backup and install it as a stopped node's store")
    .requiredOption('--config <file>', 'the node configuration file')
    .requiredOption('--from <dir>', 'the backup directory')
    .option('--replace', 'move a store already there aside instead of refusing', false)
    .option('--json', JSON_OPTION_HELP, false)
    .action(async (options: { config: string; from: string; replace: boolean; json: boolean }) => {
      const settings = loadNodeSettings(options.config);
      const { report, movedTo } = await restoreNode(settings, options.from, { replace: options.replace });
      if (options.json) {
        printJson(io, { dataDir: settings.dataDir, movedTo, ...report });
        return;
      }
      if (movedTo !== null) io.out(`moved the previous store aside to ${movedTo}`);
      io.out(
        `restored ${report.records} records (finalized through sequence ${report.lastFinalized}) into ${settings.dataDir}; ` +
          `every record checked. Start the node: cretoai-node start --config ${options.config}`,
      );
    });
}
