/**
 * `cretoai-node start`: runs one node from its configuration file.
 */
import { type Command, Option } from 'commander';
import { runNode } from '../../node/run.ts';

/** Adds `start` to `program`. */
export function addStartCommand(program: Command): void {
  program
    .command('start')
    .description(
      'run one node from its configuration file until SIGTERM or Ctrl-C (logs: JSON lines on stderr)',
    )
    .requiredOption('--config <file>', 'the node configuration file')
    .option(
      '--trace-vertex <file>',
      'debugging: write every step of every sequence here, with microsecond times, as JSON lines (see npm run bench:trace)',
    )
    .addOption(
      new Option(
        '--stop-on-stdin-close',
        'stop gracefully when standard input closes (the parent that started the node died)',
      ).hideHelp(),
    )
    .action(
      async (
        options: { config: string; traceVertex?: string; stopOnStdinClose?: boolean },
        command: Command,
      ) => {
        const traced = options.traceVertex === undefined ? {} : { traceFile: options.traceVertex };
        command.setOptionValue(
          'exitCode',
          await runNode(options.config, { ...traced, stopOnStdinClose: options.stopOnStdinClose === true }),
        );
      },
    );
}
