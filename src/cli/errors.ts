/**
 * Errors the CLI reports in plain words: a {@link CliError} is the user's to fix (a bad option, a
 * directory in the way) and is printed without a stack; `explain` turns the library's typed
 * errors into the same kind of sentence, with the command that helps where there is one.
 */

import { ClusterFileError } from '../client/cluster-file.ts';
import { BftClientError } from '../client/errors.ts';
import { CryptoError } from '../crypto/index.ts';
import { ConfigError } from '../engine/index.ts';
import { CretoaiError } from '../errors.ts';
import { NodeConfigError } from '../node/config.ts';
import { DataDirInUseError } from '../node/data-lock.ts';
import { ReconfigurationError } from '../reconfig/errors.ts';
import { StoreCorruptError, StoreInUseError } from '../storage/errors.ts';
import { QuicUnavailableError } from '../transport/quic.ts';

/** A failure the user can fix; printed as it is, exit status `exitCode`. */
export class CliError extends CretoaiError {
  readonly code = 'cli';
  override readonly name = 'CliError';
  readonly exitCode: number;

  constructor(message: string, exitCode = 1, options?: ErrorOptions) {
    super(message, options);
    this.exitCode = exitCode;
  }
}

/** The sentence to print for `error`, and whether it is a bug (then the stack helps). */
export function explain(
  error: unknown,
  context: { readonly configFile?: string } = {},
): {
  readonly message: string;
  readonly bug: boolean;
  readonly exitCode: number;
} {
  if (error instanceof CliError) return { message: error.message, bug: false, exitCode: error.exitCode };
  if (error instanceof StoreCorruptError) {
    const config = context.configFile ?? '<node config>';
    const steps =
      error.code === 'backup'
        ? ''
        : `\n  to rejoin by state transfer:  cretoai-node wipe --config ${config} --yes, then start it again` +
          `\n  to restore a backup:          cretoai-node restore --config ${config} --from <backup dir> --replace`;
    return { message: `${error.message}${steps}`, bug: false, exitCode: 3 };
  }
  if (
    error instanceof NodeConfigError ||
    error instanceof ClusterFileError ||
    error instanceof DataDirInUseError ||
    error instanceof StoreInUseError ||
    error instanceof BftClientError ||
    error instanceof CryptoError ||
    error instanceof ConfigError ||
    error instanceof QuicUnavailableError
  ) {
    return { message: error.message, bug: false, exitCode: 1 };
  }
  if (error instanceof ReconfigurationError) {
    return { message: `${error.message} (${error.code})`, bug: false, exitCode: 1 };
  }
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'EADDRINUSE') {
    const { address, port } = error as { address?: string; port?: number };
    return {
      message: `the address ${address ?? ''}:${port ?? ''} is already in use: another process listens there (is the node already running?)`,
      bug: false,
      exitCode: 1,
    };
  }
  if (
    code === 'EACCES' ||
    code === 'ENOENT' ||
    code === 'EEXIST' ||
    code === 'ENOTDIR' ||
    code === 'ENOTEMPTY'
  ) {
    return { message: (error as Error).message, bug: false, exitCode: 1 };
  }
  return { message: error instanceof Error ? error.message : String(error), bug: true, exitCode: 1 };
}
