/**
 * The `cretoai-node` command: the program that gathers every subcommand (one module each in
 * `commands/`), and one place that turns failures into a plain sentence and a non-zero exit status.
 */
import { Command } from 'commander';
import type { Io } from './cluster-commands.ts';
import { addBackupCommand } from './commands/backup.ts';
import { addBenchCommand } from './commands/bench.ts';
import { addInitCommand } from './commands/init.ts';
import { addKeygenCommand } from './commands/keygen.ts';
import { printJson } from './commands/options.ts';
import { addRestoreCommand } from './commands/restore.ts';
import { addStartCommand } from './commands/start.ts';
import { addStatusCommand } from './commands/status.ts';
import { addSubmitCommand } from './commands/submit.ts';
import { addUpCommand } from './commands/up.ts';
import { addValidatorsCommand } from './commands/validators.ts';
import { addVerifyEvidenceCommand } from './commands/verify-evidence.ts';
import { addVerifyStoreCommand } from './commands/verify-store.ts';
import { addWipeCommand } from './commands/wipe.ts';
import { explain } from './errors.ts';

/** The subcommands, in the order `--help` lists them. */
const COMMANDS: readonly ((program: Command, io: Io) => void)[] = [
  addKeygenCommand,
  addInitCommand,
  addStartCommand,
  addUpCommand,
  addStatusCommand,
  addSubmitCommand,
  addBenchCommand,
  addBackupCommand,
  addRestoreCommand,
  addWipeCommand,
  addVerifyStoreCommand,
  addVerifyEvidenceCommand,
  addValidatorsCommand,
];

/** Builds the program. `io` receives what commands print. */
export function buildProgram(io: Io): Command {
  const program = new Command('cretoai-node')
    .description(
      'Run and operate cretoai-consensus nodes: PBFT consensus with ML-DSA-87 signatures.\n' +
        'Quick start: cretoai-node up --nodes 4 --load 500 --duration 20',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => io.out(text.trimEnd()),
      writeErr: (text) => io.err(text.trimEnd()),
    });
  for (const add of COMMANDS) add(program, io);
  return program;
}

/** Runs the command line; resolves with the exit status. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(io);
  program.exitOverride();
  let configFile: string | undefined;
  const at = argv.indexOf('--config');
  if (at >= 0) configFile = argv[at + 1];
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('commander.')) {
      // Commander printed help, the version or the usage error already.
      return (error as { exitCode: number }).exitCode;
    }
    const { message, bug, exitCode } = explain(error, configFile === undefined ? {} : { configFile });
    io.err(`cretoai-node: ${message}`);
    // With --json (on stdout: not `--json <file>`), a failure is JSON on stdout too.
    const json = argv.indexOf('--json');
    if (json >= 0 && (argv[json + 1] === undefined || argv[json + 1]!.startsWith('-')))
      printJson(io, { error: { message, exitCode } });
    if (bug && error instanceof Error && error.stack !== undefined) io.err(error.stack);
    return exitCode;
  }
  const sub = program.commands.find((command) => command.getOptionValue('exitCode') !== undefined);
  return (sub?.getOptionValue('exitCode') as number | undefined) ?? 0;
}
