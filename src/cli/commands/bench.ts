/**
 * `cretoai-node bench`: an open-loop load against a running or a fresh local cluster, and the
 * parser of its `--rate` list.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { benchCommand, type Io } from '../cluster-commands.ts';
import { MAX_WINDOW_PER_NODE_DEFAULT } from '../load.ts';
import { transportOption, wholeNumber } from './options.ts';

/** Parses `--rate`: vertices per second, `max`, or a comma-separated list of them. */
function rateList(value: string): (number | 'max')[] {
  return value.split(',').map((part) => {
    const text = part.trim();
    if (text === 'max') return 'max';
    const parsed = Number(text);
    if (!Number.isSafeInteger(parsed) || parsed < 1 || parsed > 10_000_000) {
      throw new InvalidArgumentError(
        'must be vertices per second (1 to 10,000,000), "max", or a comma-separated list',
      );
    }
    return parsed;
  });
}

/** Adds `bench` to `program`. */
export function addBenchCommand(program: Command, io: Io): void {
  program
    .command('bench')
    .description(
      'drive an open-loop load and print throughput and finality p50/p99/p99.9, against a running cluster ' +
        '(--cluster) or a fresh cluster of node processes on loopback (--nodes)',
    )
    .option('--cluster <file>', 'drive the running cluster of this cluster file')
    .addOption(
      new Option('--nodes <n>', 'nodes of the fresh local cluster').argParser(wholeNumber(1, 100)).default(4),
    )
    .addOption(
      new Option('--duration <seconds>', 'seconds per rate, warm-up included')
        .argParser(wholeNumber(1, 86_400))
        .default(30),
    )
    .addOption(
      new Option('--warmup <seconds>', 'seconds at the start of each rate not measured')
        .argParser(wholeNumber(0, 3600))
        .default(3),
    )
    .addOption(
      new Option(
        '--rate <rates>',
        'vertices per second offered, "max" for as fast as it goes, or a list: 1000,10000,max',
      )
        .argParser(rateList)
        .default([1000], '1000'),
    )
    .addOption(
      new Option('--payload-bytes <bytes>', 'payload size').argParser(wholeNumber(16, 1 << 20)).default(128),
    )
    .addOption(
      new Option(
        '--window <n>',
        'vertices kept in flight with --rate max, fewer while a node refuses as full ' +
          `(default: ${MAX_WINDOW_PER_NODE_DEFAULT} for each node submitted to)`,
      ).argParser(wholeNumber(1, 1_000_000)),
    )
    .addOption(transportOption())
    .addOption(
      new Option('--submit-to <nodes>', 'submit to every node in turn, or only to the current leader')
        .choices(['all', 'leader'])
        .default('all'),
    )
    .option('--dir <dir>', 'the fresh cluster directory (default: temporary, removed afterwards)')
    .option('--keep', 'keep the temporary cluster directory', false)
    .option('--json [file]', 'the reports as JSON: on stdout (instead of the table), or into <file> as well')
    .option('--chart <file.svg>', 'also write a latency-versus-throughput chart of the rates (SVG)')
    .action(
      async (
        options: {
          cluster?: string;
          nodes: number;
          duration: number;
          warmup: number;
          rate: (number | 'max')[];
          payloadBytes: number;
          window?: number;
          transport: 'tcp' | 'quic';
          submitTo: 'all' | 'leader';
          dir?: string;
          keep: boolean;
          json?: string | true;
          chart?: string;
        },
        command: Command,
      ) => {
        command.setOptionValue(
          'exitCode',
          await benchCommand(
            {
              cluster: options.cluster,
              nodes: options.nodes,
              duration: options.duration,
              warmup: options.warmup,
              rates: options.rate,
              payloadBytes: options.payloadBytes,
              window: options.window,
              transport: options.transport,
              submitTo: options.submitTo,
              dir: options.dir,
              keep: options.keep,
              json: options.json,
              chart: options.chart,
            },
            io,
          ),
        );
      },
    );
}
