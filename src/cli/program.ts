/**
 * The `cretoai-node` command: every subcommand with its help text, and one place that turns
 * failures into a plain sentence and a non-zero exit status.
 */
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { StatusResponse } from '../client/api.ts';
import { BftClient, clusterKeysOf } from '../client/client.ts';
import { loadClusterFile } from '../client/cluster-file.ts';
import { verifyEvidenceJson } from '../client/evidence.ts';
import { exportPublicKeyPem, mlDsa87 } from '../crypto/index.ts';
import { loadNodeSettings } from '../node/config.ts';
import { runNode } from '../node/run.ts';
import { backupNode, restoreNode, verifyNodeStore, wipeNode } from './admin.ts';
import { benchCommand, type Io, upCommand } from './cluster-commands.ts';
import { CliError, explain } from './errors.ts';
import { initCluster, writePrivateKey } from './init.ts';

function wholeNumber(min: number, max: number): (value: string) => number {
  return (value) => {
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    }
    return parsed;
  };
}

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

function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}

/** The nodes to talk to: `--url` values, or the API URLs of `--cluster`. */
function clientOf(options: { cluster?: string; url?: string[] }): BftClient {
  if (options.cluster !== undefined) {
    const cluster = loadClusterFile(options.cluster);
    return BftClient.fromClusterFile(cluster, options.url === undefined ? {} : { nodes: options.url });
  }
  if (options.url === undefined || options.url.length === 0) {
    throw new CliError('say which nodes to ask: --cluster <cluster.json> or --url <http://host:port>');
  }
  return new BftClient({ nodes: options.url });
}

function payloadOf(options: { data?: string; file?: string; hex?: string }): Uint8Array {
  const given = [options.data, options.file, options.hex].filter((value) => value !== undefined).length;
  if (given !== 1)
    throw new CliError('give the payload with exactly one of --data <text>, --file <path> or --hex <hex>');
  if (options.data !== undefined) return new TextEncoder().encode(options.data);
  if (options.file !== undefined) return new Uint8Array(fs.readFileSync(options.file));
  const hex = options.hex!;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new CliError('--hex must be an even number of hex digits');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Prints `value` as JSON on stdout: what every command's `--json` prints. */
function printJson(io: Io, value: unknown): void {
  io.out(JSON.stringify(value, null, 2));
}

const JSON_OPTION_HELP = 'print the result as JSON on stdout (messages stay on stderr; same exit status)';

/** The status table's columns; a node that did not answer gets `-` in all but the first two. */
const STATUS_HEADER = [
  'node',
  'state',
  'view',
  'leader',
  'sequence',
  'stable',
  'peers',
  'quorum',
  'pending',
  'banned',
];

function statusRow(status: StatusResponse): string[] {
  return [
    status.nodeId,
    status.state,
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

  program
    .command('keygen')
    .description(
      'generate an ML-DSA-87 key pair: the private key to a file (mode 0600), the public key printed',
    )
    .requiredOption('--out <file>', 'where to write the private key (PKCS#8 PEM)')
    .option('--public-out <file>', 'also write the public key (SPKI PEM) to this file')
    .option('--force', 'overwrite an existing private key file', false)
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: { out: string; publicOut?: string; force: boolean; json: boolean }) => {
      const keys = mlDsa87.generateKeyPair();
      writePrivateKey(options.out, keys, { force: options.force });
      const pem = exportPublicKeyPem(keys.publicKey);
      if (options.publicOut !== undefined) fs.writeFileSync(options.publicOut, pem);
      io.err(`wrote the private key to ${options.out}; keep it secret. Public key (for the cluster file):`);
      if (options.json) {
        printJson(io, {
          privateKeyFile: path.resolve(options.out),
          publicKeyFile: options.publicOut === undefined ? null : path.resolve(options.publicOut),
          publicKey: pem,
        });
      } else io.out(pem.trimEnd());
    });

  program
    .command('init')
    .description(
      'create keys, a cluster file and one node configuration per node, for a cluster on one machine',
    )
    .requiredOption('--dir <dir>', 'the directory to create the cluster in (must not hold one)')
    .addOption(new Option('--nodes <n>', 'number of validators').argParser(wholeNumber(1, 100)).default(4))
    .option('--cluster-id <id>', 'the cluster id (default: local-<random>)')
    .option('--host <ip>', 'the address every node listens on and is reached at', '127.0.0.1')
    .addOption(
      new Option('--transport <protocol>', 'consensus transport between the nodes')
        .choices(['tcp', 'quic'])
        .default('tcp'),
    )
    .addOption(
      new Option(
        '--port-base <port>',
        'node i uses consensus port base+i and HTTP port base+100+i (default: free ports)',
      ).argParser(wholeNumber(1, 65_000)),
    )
    .option('--json', JSON_OPTION_HELP, false)
    .action(
      async (options: {
        dir: string;
        nodes: number;
        clusterId?: string;
        host: string;
        portBase?: number;
        transport: 'tcp' | 'quic';
        json: boolean;
      }) => {
        const created = await initCluster({
          dir: options.dir,
          nodes: options.nodes,
          host: options.host,
          transport: options.transport,
          ...(options.clusterId === undefined ? {} : { clusterId: options.clusterId }),
          ...(options.portBase === undefined ? {} : { portBase: options.portBase }),
        });
        for (const warning of created.warnings) io.err(`warning: ${warning}`);
        if (options.json) {
          printJson(io, {
            dir: created.dir,
            clusterFile: created.clusterFile,
            clusterId: created.clusterId,
            faultTolerance: created.faultTolerance,
            nodes: created.nodeIds.map((nodeId, i) => ({
              nodeId,
              config: created.configFiles[i],
              address: created.addresses[i],
              api: created.apiUrls[i],
            })),
            warnings: created.warnings,
          });
          return;
        }
        io.out(`created a cluster of ${created.nodeIds.length} nodes in ${created.dir}`);
        io.out(`  cluster file: ${created.clusterFile}`);
        for (const [i, file] of created.configFiles.entries())
          io.out(`  ${created.nodeIds[i]}: ${file}  API ${created.apiUrls[i]}`);
        io.out(
          `start each with: cretoai-node start --config ${created.configFiles[0]}  (or all at once: cretoai-node up --dir ${created.dir})`,
        );
      },
    );

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
    .addOption(
      new Option('--transport <protocol>', 'consensus transport between the nodes')
        .choices(['tcp', 'quic'])
        .default('tcp'),
    )
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

  program
    .command('status')
    .description("print each node's view, leader, sequence, checkpoint and peers")
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
      new Option('--window <n>', 'vertices kept in flight with --rate max')
        .argParser(wholeNumber(1, 1_000_000))
        .default(5000),
    )
    .addOption(
      new Option('--transport <protocol>', 'consensus transport between the nodes')
        .choices(['tcp', 'quic'])
        .default('tcp'),
    )
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
          window: number;
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

  program
    .command('backup')
    .description("write a consistent snapshot of a node's store (asks the node when it runs)")
    .requiredOption('--config <file>', 'the node configuration file')
    .requiredOption('--out <dir>', 'a new or empty directory for the backup')
    .option('--json', `${JSON_OPTION_HELP}: the manifest, with dir and via`, false)
    .action(async (options: { config: string; out: string; json: boolean }) => {
      const manifest = await backupNode(loadNodeSettings(options.config), options.out);
      if (options.json) {
        printJson(io, { dir: path.resolve(options.out), ...manifest });
        return;
      }
      io.out(
        `backup of ${manifest.clusterId} replica ${manifest.replica} written to ${path.resolve(options.out)} ` +
          `(finalized through at least sequence ${manifest.lastFinalized}, ${manifest.dataBytes} bytes, SHA-256 ${manifest.dataSha256}; ` +
          `${manifest.via === 'node' ? 'taken by the running node' : 'the node was stopped'})`,
      );
    });

  program
    .command('restore')
    .description("check a backup and install it as a stopped node's store")
    .requiredOption('--config <file>', 'the node configuration file')
    .requiredOption('--from <dir>', 'the backup directory')
    .option('--replace', 'move a store already there aside instead of refusing', false)
    .option('--json', JSON_OPTION_HELP, false)
    .action(async (options: { config: string; from: string; replace: boolean; json: boolean }) => {
      const settings = loadNodeSettings(options.config);
      const { report, movedTo } = await restoreNode(settings, options.from, { replace: options.replace });
      if (options.json) {
        printJson(io, { dataDir: settings.dataDir, movedTo, ...report });
        return;
      }
      if (movedTo !== null) io.out(`moved the previous store aside to ${movedTo}`);
      io.out(
        `restored ${report.records} records (finalized through sequence ${report.lastFinalized}) into ${settings.dataDir}; ` +
          `every record checked. Start the node: cretoai-node start --config ${options.config}`,
      );
    });

  program
    .command('wipe')
    .description("move a stopped node's store aside, so that it rejoins by state transfer at its next start")
    .requiredOption('--config <file>', 'the node configuration file')
    .option('--yes', 'confirm: the node forgets its store', false)
    .option('--delete', 'delete the store instead of moving it aside', false)
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: { config: string; yes: boolean; delete: boolean; json: boolean }) => {
      const settings = loadNodeSettings(options.config);
      if (!options.yes) {
        throw new CliError(
          `this makes ${settings.nodeId} forget its store in ${settings.dataDir} and rejoin by state transfer; pass --yes to go ahead`,
        );
      }
      const movedTo = wipeNode(settings, { delete: options.delete });
      if (options.json) {
        printJson(io, { dataDir: settings.dataDir, movedTo });
        return;
      }
      io.out(
        movedTo === null
          ? `${settings.dataDir} is gone; the node starts empty and catches up from its peers`
          : `moved ${settings.dataDir} to ${movedTo}; the node starts empty and catches up from its peers`,
      );
    });

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

  program
    .command('verify-evidence')
    .description(
      "check evidence of Byzantine behaviour (two conflicting signed messages) with the cluster's public keys",
    )
    .requiredOption('--cluster <file>', 'the cluster file')
    .option('--file <file>', "evidence JSON: one item, a list, or a node's GET /v1/evidence answer")
    .option('--url <url>', 'check the evidence a node holds (its GET /v1/evidence)')
    .option(
      '--json',
      `${JSON_OPTION_HELP}: { checked, invalid, items: [{ index, valid, description | reason }] }`,
      false,
    )
    .action(
      async (options: { cluster: string; file?: string; url?: string; json: boolean }, command: Command) => {
        if ((options.file === undefined) === (options.url === undefined))
          throw new CliError('give exactly one of --file or --url');
        const cluster = loadClusterFile(options.cluster);
        let json: unknown;
        if (options.file !== undefined) {
          try {
            json = JSON.parse(fs.readFileSync(options.file, 'utf8'));
          } catch (error) {
            throw new CliError(`${options.file} is not readable JSON (${(error as Error).message})`);
          }
        } else {
          const response = await fetch(`${options.url!.replace(/\/+$/, '')}/v1/evidence`).catch(
            (error: unknown) => {
              throw new CliError(`${options.url} does not answer (${(error as Error).message})`);
            },
          );
          json = await response.json();
        }
        const items: unknown[] = Array.isArray(json)
          ? json
          : typeof json === 'object' &&
              json !== null &&
              Array.isArray((json as { evidence?: unknown }).evidence)
            ? (json as { evidence: unknown[] }).evidence
            : [json];
        if (items.length === 0) {
          if (options.json) printJson(io, { checked: 0, invalid: 0, items: [] });
          else io.out('no evidence to check');
          return;
        }
        const keys = {
          ...clusterKeysOf(cluster),
          validators: cluster.validators.map((validator) => validator.nodeId),
        };
        let invalid = 0;
        const results: unknown[] = [];
        for (const [i, item] of items.entries()) {
          const verdict = verifyEvidenceJson(item, keys);
          if (!verdict.valid) invalid++;
          if (options.json) {
            results.push(
              verdict.valid
                ? { index: i, valid: true, description: verdict.description }
                : { index: i, valid: false, reason: verdict.reason },
            );
          } else if (verdict.valid) io.out(`#${i}: valid: ${verdict.description}`);
          else io.out(`#${i}: NOT valid: ${verdict.reason}`);
        }
        if (options.json) printJson(io, { checked: items.length, invalid, items: results });
        if (invalid > 0) command.setOptionValue('exitCode', 1);
      },
    );

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
