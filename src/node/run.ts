/**
 * Running a node as a process: start it, stop it gracefully on SIGTERM or SIGINT (a second
 * signal exits at once), exit non-zero when the engine halts so that a supervisor restarts the
 * process from its store.
 */
import path from 'node:path';
import { StoreCorruptError } from '../storage/errors.ts';
import { loadNodeSettings, type NodeSettings } from './config.ts';
import { Logger } from './log.ts';
import { CretoaiNode } from './node.ts';

/**
 * Starts the node configured in `configFile` and serves until a signal; resolves with the exit
 * code the process should end with.
 *
 * @throws what `loadNodeSettings` and `CretoaiNode.start` throw, before anything is served.
 */
export async function runNode(
  configFile: string,
  options: {
    readonly onStarted?: (node: CretoaiNode) => void;
    /** Overrides the configuration's `debug.traceFile`. */
    readonly traceFile?: string;
    /**
     * Stop gracefully when standard input ends or closes: a parent that holds the other end of a
     * pipe (`cretoai-node up`) died, even by SIGKILL, and nobody else will stop this node.
     */
    readonly stopOnStdinClose?: boolean;
  } = {},
): Promise<number> {
  const loaded: NodeSettings = loadNodeSettings(configFile);
  const settings: NodeSettings =
    options.traceFile === undefined ? loaded : { ...loaded, traceFile: path.resolve(options.traceFile) };
  const logger = new Logger(settings.nodeId, settings.logLevel);
  const node = await CretoaiNode.start(settings, { logger });
  options.onStarted?.(node);
  return new Promise<number>((resolve, reject) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        logger.warn('node-exiting-now', { signal, reason: 'a second signal' });
        process.exit(130);
      }
      signalled = true;
      logger.info('signal', { signal });
      node.stop().then(
        () => finish(0),
        (error: unknown) => {
          logger.error('stop-failed', { error });
          finish(1);
        },
      );
    };
    const finish = (code: number): void => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      resolve(code);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    if (options.stopOnStdinClose === true) {
      const parentGone = (): void => {
        if (signalled) return;
        logger.warn('parent-gone', {
          reason: 'standard input closed: the process that started this node died',
        });
        onSignal('SIGTERM');
      };
      process.stdin.once('end', parentGone);
      process.stdin.once('close', parentGone);
      process.stdin.on('error', parentGone);
      // Read (and discard) so that the end is seen.
      process.stdin.resume();
      // The log goes to a pipe to the same parent: once it is gone, writes fail (EPIPE), and
      // an unhandled error would end the process before it stopped gracefully.
      process.stderr.on('error', () => undefined);
    }
    node.on('halted', (error) => {
      node.transport
        .stop()
        .then(() => node.store.close())
        .catch(() => undefined)
        .finally(() => {
          // A damaged store ends the process as it does at start: its message, the two ways
          // back and exit status 3 (see `explain` in `src/cli/errors.ts`).
          if (error instanceof StoreCorruptError) {
            process.off('SIGTERM', onSignal);
            process.off('SIGINT', onSignal);
            reject(error);
          } else finish(1);
        });
    });
  });
}
