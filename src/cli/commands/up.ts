/**
 * `cretoai-node up`: a local cluster of node processes on loopback, optionally under load.
 */
import { type Command, Option } from 'commander';
import { type Io, upCommand } from '../cluster-commands.ts';
import { transportOption, wholeNumber } from './options.ts';

/** Adds `up` to `program`. */
export function addUpCommand(program: Command, io: Io): void {
  program
    .command('up')
    .description('start a local cluster of node processes on loopback, print their URLs, serve until Ctrl-C')
    .addOption(new Option('--nodes <n>', 'number of nodes').argParser(wholeNumber(1, 100)).default(4))
    .option(
      '--dir <dir>',
      'the cluster directory: reused if it holds one, else created (default: a new temporary one)',
    )
    .addOption(
      new Option('--load <rate>', 'drive this many vertices per second once the nodes are up').argParser(
        wholeNumber(1, 10_000_000),
      ),
    )
    .addOption(
      new Option('--duration <seconds>', 'how long the load runs')
        .argParser(wholeNumber(1, 86_400))
        .default(20),
    )
    .addOption(
      new Option('--payload-bytes <bytes>', 'payload size of the load')
        .argParser(wholeNumber(16, 1 << 20))
        .default(128),
    )
    .addOption(transportOption())
    .option('--keep', 'keep the temporary directory made without --dir', false)
    .addOption(
      new Option('--exit-when-ready', 'stop the cluster once it is up and the load is done').hideHelp(),
    )
    .action(
      async (
        options: {
          nodes: number;
          dir?: string;
          load?: number;
          duration: number;
          payloadBytes: number;
          transport: 'tcp' | 'quic';
          keep: boolean;
          exitWhenReady?: boolean;
        },
        command: Command,
      ) => {
        command.setOptionValue(
          'exitCode',
          await upCommand(
            {
              nodes: options.nodes,
              dir: options.dir,
              load: options.load,
              duration: options.duration,
              payloadBytes: options.payloadBytes,
              transport: options.transport,
              keep: options.keep,
              exitWhenReady: options.exitWhenReady === true,
            },
            io,
          ),
        );
      },
    );
}
