/**
 * `cretoai-node status`: each node's status, as a table (and its helpers) or as JSON.
 */
import type { Command } from 'commander';
import type { StatusResponse } from '../../client/api.ts';
import { loadClusterFile } from '../../client/cluster-file.ts';
import type { Io } from '../cluster-commands.ts';
import { collect, printJson } from './options.ts';
import { clientOf } from './targets.ts';

/** The status table's columns; a node that did not answer gets `-` in all but the first two. */
const STATUS_HEADER = [
  'node',
  'state',
  'epoch',
  'view',
  'leader',
  'sequence',
  'stable',
  'peers',
  'quorum',
  'pending',
  'banned',
];

/** One node's row of the status table. */
function statusRow(status: StatusResponse): string[] {
  return [
    status.nodeId,
    status.state,
    // A node a reconfiguration removed says so (it votes no more), and one joining says so.
    `${status.epoch ?? 0}${status.learning === true ? ' (joining)' : status.member === false ? ' (left)' : ''}`,
    `${status.view}${status.viewActive ? '' : ' (changing)'}`,
    status.leader,
    String(status.sequence),
    String(status.stableCheckpoint),
    `${status.peers.length}/${status.validators.length - 1}`,
    // Older nodes do not report it.
    status.quorumReachable === undefined
      ? '?'
      : `${status.quorumReachable ? 'yes' : 'NO'} ${status.validatorsReachable}/${status.validators.length} (${status.quorum} needed)`,
    String(status.pendingProposals),
    status.banned.length === 0 ? '-' : status.banned.join(','),
  ];
}

/** Lines of a table: the header and the rows, columns padded to their widest cell. */
function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** Builds the program. `io` receives what commands print. */

/** Adds `status` to `program`. */
export function addStatusCommand(program: Command, io: Io): void {
  program
    .command('status')
    .description("print each node's epoch, view, leader, sequence, checkpoint and peers")
    .option('--cluster <file>', 'ask every node of this cluster file (its "api" URLs)')
    .option('--url <url>', 'ask this node (repeatable)', collect)
    .option('--json', 'print the answers as JSON (a node that did not answer: { url, nodeId, error })', false)
    .action(async (options: { cluster?: string; url?: string[]; json: boolean }, command: Command) => {
      const client = clientOf(options);
      // With a cluster file, a node that does not answer is still named by its node id.
      const names = new Map<string, string>();
      if (options.cluster !== undefined) {
        for (const validator of loadClusterFile(options.cluster).validators)
          if (validator.api !== undefined) names.set(validator.api.replace(/\/+$/, ''), validator.nodeId);
      }
      const answers = await Promise.allSettled(client.nodes.map((node) => client.status(node)));
      if (options.json) {
        printJson(
          io,
          answers.map((answer, i) =>
            answer.status === 'fulfilled'
              ? answer.value
              : {
                  url: client.nodes[i],
                  nodeId: names.get(client.nodes[i]!) ?? null,
                  error: (answer.reason as Error).message,
                },
          ),
        );
      } else {
        const rows = answers.map((answer, i) =>
          answer.status === 'fulfilled'
            ? statusRow(answer.value)
            : [
                names.get(client.nodes[i]!) ?? client.nodes[i]!,
                'unreachable',
                ...STATUS_HEADER.slice(2).map(() => '-'),
              ],
        );
        for (const line of table(STATUS_HEADER, rows)) io.out(line);
        // Why each one did not answer, under the table rather than in it.
        for (const [i, answer] of answers.entries()) {
          if (answer.status === 'rejected')
            io.err(`${names.get(client.nodes[i]!) ?? client.nodes[i]}: ${(answer.reason as Error).message}`);
        }
      }
      if (answers.some((answer) => answer.status === 'rejected')) command.setOptionValue('exitCode', 1);
    });
}
