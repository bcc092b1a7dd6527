/**
 * `cretoai-node verify-store`: reads and checks every record of a stopped node's store.
 */
import type { Command } from 'commander';
import { loadNodeSettings } from '../../node/config.ts';
import { verifyNodeStore } from '../admin.ts';
import type { Io } from '../cluster-commands.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** Adds `verify-store` to `program`. */
export function addVerifyStoreCommand(program: Command, io: Io): void {
  program
    .command('verify-store')
    .description("read and check every record of a stopped node's store")
    .requiredOption('--config <file>', 'the node configuration file')
    .option('--json', JSON_OPTION_HELP, false)
    .action(async (options: { config: string; json: boolean }) => {
      const report = await verifyNodeStore(loadNodeSettings(options.config));
      if (options.json) {
        printJson(io, report);
        return;
      }
      io.out(
        `the store checks out: ${report.records} records, ${report.finalized} finalized batches through sequence ${report.lastFinalized}, ${report.vertices} vertices`,
      );
    });
}
