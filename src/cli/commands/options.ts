/**
 * What several commands share about their options: the whole-number and repeatable-option
 * parsers, the `--transport` option, and the `--json` option's help text and output.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Io } from '../cluster-commands.ts';

/** Parses a whole number from `min` to `max`, or says what it must be. */
export function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return parsed;
  };
}

/** Collects every value of a repeatable option. */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}

/** `--transport tcp|quic`, for the commands that create a cluster. */
export function transportOption(): Option {
  return new Option('--transport <protocol>', 'consensus transport between the nodes')
    .choices(['tcp', 'quic'])
    .default('tcp');
}

export const JSON_OPTION_HELP =
  'print the result as JSON on stdout (messages stay on stderr; same exit status)';

/** Prints `value` as JSON on stdout: what every command's `--json` prints. */
export function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}
