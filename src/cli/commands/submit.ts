/**
 * `cretoai-node submit`: submits a vertex and, with `--wait`, says how its finality was proven.
 */
import { type Command, Option } from 'commander';
import type { Io } from '../cluster-commands.ts';
import { collect, JSON_OPTION_HELP, printJson, wholeNumber } from './options.ts';
import { clientOf, payloadOf } from './targets.ts';

/** Adds `submit` to `program`. */
export function addSubmitCommand(program: Command, io: Io): void {
  program
    .command('submit')
    .description('submit a vertex; with --wait, wait until it is final and say how that was proven')
    .option('--cluster <file>', 'the cluster file: its nodes, and the keys to check certificates with')
    .option(
      '--url <url>',
      'a node to submit to (repeatable; without --cluster, finality needs f+1 of them to agree)',
      collect,
    )
    .option('--data <text>', 'the payload as text')
    .option('--file <path>', 'the payload: the bytes of a file')
    .option('--hex <hex>', 'the payload in hex')
    .option('--parent <hash>', "a parent vertex's hash, 64 hex digits (repeatable)", collect)
    .addOption(
      new Option('--to <nodes>', 'one node (the next that accepts) or all of them')
        .choices(['one', 'all'])
        .default('one'),
    )
    .option('--wait', 'wait until the vertex is final', false)
    .addOption(
      new Option('--timeout <ms>', 'how long --wait waits')
        .argParser(wholeNumber(1, 3_600_000))
        .default(30_000),
    )
    .option('--json', `${JSON_OPTION_HELP}: { hash, validThrough, acceptedBy, final }`, false)
    .action(
      async (options: {
        cluster?: string;
        url?: string[];
        data?: string;
        file?: string;
        hex?: string;
        parent?: string[];
        to: 'one' | 'all';
        wait: boolean;
        timeout: number;
        json: boolean;
      }) => {
        const client = clientOf(options);
        const payload = payloadOf(options);
        const result = await client.submit({ payload, parents: options.parent ?? [] }, { to: options.to });
        if (!options.json) io.out(result.hash);
        io.err(`accepted by ${result.acceptedBy.join(', ')}`);
        const submitted = {
          hash: result.hash,
          validThrough: result.vertex.validThrough,
          acceptedBy: result.acceptedBy,
        };
        // A 202 only means accepted: say so when it cannot become final for now.
        const seen = await client.status(result.acceptedBy[0], 2000).catch(() => null);
        if (seen?.quorumReachable === false) {
          io.err(
            `warning: ${seen.nodeId} sees no quorum (${seen.validatorsReachable} of ${seen.validators.length} validators reachable, ${seen.quorum} needed): the vertex waits until enough are back`,
          );
        }
        if (!options.wait) {
          if (options.json) printJson(io, { ...submitted, final: null });
          return;
        }
        const final = await client.waitFinal(result.hash, { timeoutMs: options.timeout });
        if (options.json) {
          printJson(io, {
            ...submitted,
            final: {
              sequence: final.sequence,
              index: final.index,
              view: final.view ?? null,
              proof: final.proof,
              nodes: final.nodes,
            },
          });
          return;
        }
        const how =
          final.proof === 'certificate'
            ? `the commit certificate from ${final.nodes[0]} checks out against the cluster's keys`
            : `${final.nodes.length} nodes agree (${final.nodes.join(', ')})`;
        io.out(
          `final at sequence ${final.sequence}, index ${final.index}${final.view === undefined ? '' : `, view ${final.view}`}: ${how}`,
        );
      },
    );
}
