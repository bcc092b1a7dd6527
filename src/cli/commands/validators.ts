/**
 * `cretoai-node validators`: build, sign, check and submit requests that change the validator
 * set (docs/reconfiguration.md). `propose-add`, `propose-remove`, `replace` and `rotate-key`
 * write an unsigned request against the current epoch, or add their operation to one not signed
 * yet; `sign` adds one operator's signature; `check` says whether the request would take effect;
 * `submit` orders it and waits until the new epoch is active at every validator of it.
 *
 * The current epoch is the cluster file's (epoch 0), or the one the requests given with
 * `--chain` lead to, each checked against the epoch before it as a node checks it.
 */
import fs from 'node:fs';
import { type Command, Option } from 'commander';
import { BftClient } from '../../client/client.ts';
import {
  loadClusterFile,
  parsePublicKey,
  type ValidatorEntry,
  validatorEntry,
} from '../../client/cluster-file.ts';
import { importPrivateKeyPem } from '../../crypto/index.ts';
import { readPrivateKeyFile } from '../../node/key-file.ts';
import type { Epoch } from '../../reconfig/epoch.ts';
import type { Operation } from '../../reconfig/operations.ts';
import { requestPayload } from '../../reconfig/reader.ts';
import {
  checkRequest,
  followChain,
  proposeRequest,
  type ReconfigurationRequest,
  signRequest,
} from '../../reconfig/request.ts';
import { formatRequestFile, loadRequestFile } from '../../reconfig/request-file.ts';
import type { Io } from '../cluster-commands.ts';
import { CliError } from '../errors.ts';
import { collect, JSON_OPTION_HELP, printJson, wholeNumber } from './options.ts';

/** The options every proposing subcommand takes. */
interface ProposeOptions extends EpochOptions {
  request?: string;
  out: string;
  json: boolean;
}

/** The validator the options describe: an id, a public key file, an address and an API URL. */
interface ValidatorOptions {
  publicKey: string;
  address?: string;
  api?: string;
}

/** Where the current epoch comes from: the cluster file, and the requests that took effect since. */
interface EpochOptions {
  cluster: string;
  chain?: string[];
}

/** The current epoch: the cluster file's, or the one `--chain` leads to. */
function currentEpoch(options: EpochOptions): Epoch {
  return followChain(loadClusterFile(options.cluster), (options.chain ?? []).map(loadRequestFile));
}

const CHAIN_OPTION_HELP =
  'a request that took effect since the cluster file, in order (repeatable): the current epoch is the one they lead to';

/** Reads a public key file (SPKI PEM or raw hex, as `keygen --public-out` writes it). */
function readPublicKey(file: string): ValidatorEntry['publicKey'] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(
      `cannot read the public key file ${file} (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  try {
    return parsePublicKey(text);
  } catch (error) {
    throw new CliError(`${file} holds no ML-DSA-87 public key (${(error as Error).message})`);
  }
}

function validatorOf(nodeId: string, options: ValidatorOptions): ValidatorEntry {
  return validatorEntry({ ...options, nodeId, publicKey: readPublicKey(options.publicKey) });
}

/** Writes a request file; says where, or prints its summary as JSON. */
function writeRequest(io: Io, file: string, request: ReconfigurationRequest, json: boolean): void {
  fs.writeFileSync(file, formatRequestFile(request));
  if (json) {
    printJson(io, summary(request, file));
    return;
  }
  io.out(`wrote ${file}: epoch ${request.from} -> ${request.from + 1}, ${describe(request)}`);
  io.out(
    `  signatures: ${request.signatures.length}; each operator adds one with: cretoai-node validators sign`,
  );
}

/** What one operation does, in a few words. */
function describeOperation(operation: Operation): string {
  switch (operation.op) {
    case 'add':
      return `add ${operation.validator.nodeId}`;
    case 'remove':
      return `remove ${operation.nodeId}`;
    case 'replace':
      return `replace ${operation.nodeId} by ${operation.validator.nodeId}`;
    case 'rotate-key':
      return `rotate the key of ${operation.nodeId}`;
    case 'set-figures':
      return `set ${Object.keys(operation.consensus).join(', ')}`;
    case 'set-operators':
      return `set ${operation.operators.keys.length} operators (threshold ${operation.operators.threshold})`;
  }
}

/** One line on what a request changes and the validators it leads to. */
function describe(request: ReconfigurationRequest): string {
  const operations = request.operations.map(describeOperation);
  const next = request.next.validators.map((validator) => validator.nodeId).join(', ');
  return `${operations.join('; ')}; validators then: ${next} (n = ${request.next.validators.length})`;
}

function summary(request: ReconfigurationRequest, file: string): Record<string, unknown> {
  return {
    file,
    clusterId: request.clusterId,
    from: request.from,
    operations: request.operations.map((operation) => operation.op),
    nextValidators: request.next.validators.map((validator) => validator.nodeId),
    signers: request.signatures.map((entry) => entry.operator),
  };
}

/**
 * The request with `operation` added: a new one against the current epoch, or the one in
 * `options.request`, which must not be signed yet (a signature covers the operations).
 */
function propose(options: ProposeOptions, operation: Operation): ReconfigurationRequest {
  const epoch = currentEpoch(options);
  let operations: readonly Operation[] = [];
  if (options.request !== undefined) {
    const earlier = loadRequestFile(options.request);
    if (earlier.signatures.length > 0) {
      throw new CliError(
        `${options.request} is signed already: a signature covers every operation, so build a new request`,
      );
    }
    operations = earlier.operations;
  }
  return proposeRequest(epoch, [...operations, operation]);
}

/** Adds the options every proposing subcommand takes, and runs `build` with them. */
function proposing<Options extends ProposeOptions>(
  command: Command,
  io: Io,
  build: (options: Options) => Operation,
): Command {
  return command
    .requiredOption('--cluster <file>', 'the cluster file: the epoch the request changes')
    .option('--chain <file>', CHAIN_OPTION_HELP, collect)
    .option('--request <file>', 'add the operation to this unsigned request instead of starting a new one')
    .requiredOption('--out <file>', 'where to write the request (may be the --request file)')
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: Options) =>
      writeRequest(io, options.out, propose(options, build(options)), options.json),
    );
}

/** Adds `validators` and its subcommands to `program`. */
export function addValidatorsCommand(program: Command, io: Io): void {
  const validators = program
    .command('validators')
    .description('build, sign and check requests that change the validators (docs/reconfiguration.md)');

  proposing<ProposeOptions & ValidatorOptions & { nodeId: string }>(
    validators
      .command('propose-add')
      .description('propose a new validator, last in leader order')
      .requiredOption('--node-id <id>', 'its node id')
      .requiredOption('--public-key <file>', 'its public key (SPKI PEM, as keygen --public-out writes)')
      .option('--address <host:port>', 'where it accepts consensus connections')
      .option('--api <url>', 'its HTTP API base URL'),
    io,
    (options) => ({ op: 'add', validator: validatorOf(options.nodeId, options) }),
  );

  proposing<ProposeOptions & { nodeId: string }>(
    validators
      .command('propose-remove')
      .description('propose that a validator (the leader too) leaves')
      .requiredOption('--node-id <id>', 'the validator that leaves'),
    io,
    (options) => ({ op: 'remove', nodeId: options.nodeId }),
  );

  proposing<ProposeOptions & ValidatorOptions & { nodeId: string; newNodeId?: string }>(
    validators
      .command('replace')
      .description("propose that another machine takes a validator's place: a new key, the same or a new id")
      .requiredOption('--node-id <id>', 'the validator replaced')
      .option('--new-node-id <id>', 'the id of the new machine (default: the same id)')
      .requiredOption('--public-key <file>', "the new machine's public key (SPKI PEM)")
      .option('--address <host:port>', 'where the new machine accepts consensus connections')
      .option('--api <url>', "the new machine's HTTP API base URL"),
    io,
    (options) => ({
      op: 'replace',
      nodeId: options.nodeId,
      validator: validatorOf(options.newNodeId ?? options.nodeId, options),
    }),
  );

  proposing<ProposeOptions & { nodeId: string; publicKey: string }>(
    validators
      .command('rotate-key')
      .description('propose a new key for a validator, which keeps its id and address')
      .requiredOption('--node-id <id>', 'the validator')
      .requiredOption('--public-key <file>', 'its new public key (SPKI PEM)'),
    io,
    (options) => ({ op: 'rotate-key', nodeId: options.nodeId, publicKey: readPublicKey(options.publicKey) }),
  );

  validators
    .command('sign')
    .description("add one operator's signature to a request")
    .requiredOption('--request <file>', 'the request file')
    .requiredOption('--key <file>', "the operator's private key (PKCS#8 PEM, mode 0600)")
    .requiredOption('--cluster <file>', 'the cluster file: the epoch and its operators')
    .option('--chain <file>', CHAIN_OPTION_HELP, collect)
    .option('--out <file>', 'where to write the signed request (default: the --request file)')
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: EpochOptions & { request: string; key: string; out?: string; json: boolean }) => {
      const keys = importPrivateKeyPem(readPrivateKeyFile(options.key));
      const signed = signRequest(loadRequestFile(options.request), currentEpoch(options), keys);
      writeRequest(io, options.out ?? options.request, signed, options.json);
    });

  validators
    .command('check')
    .description('check a request as a node will: its epoch, its next validators and its signatures')
    .requiredOption('--request <file>', 'the request file')
    .requiredOption('--cluster <file>', 'the cluster file: the epoch and its operators')
    .option('--chain <file>', CHAIN_OPTION_HELP, collect)
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: EpochOptions & { request: string; json: boolean }) => {
      const request = loadRequestFile(options.request);
      const checked = checkRequest(request, currentEpoch(options));
      if (options.json) {
        printJson(io, { ...summary(request, options.request), valid: true, threshold: checked.threshold });
        return;
      }
      io.out(`${options.request} takes effect on epoch ${request.from}: ${describe(request)}`);
      io.out(`  signed by operators ${checked.signers.join(', ')} (${checked.threshold} needed)`);
    });

  validators
    .command('submit')
    .description(
      'order a signed request and wait until its epoch is active at every validator of it (their api URLs)',
    )
    .requiredOption('--request <file>', 'the request file, signed by enough operators')
    .requiredOption('--cluster <file>', 'the cluster file: the epoch and its operators')
    .option('--chain <file>', CHAIN_OPTION_HELP, collect)
    .option(
      '--url <url>',
      "a node to submit to (repeatable; default: the current validators' api URLs)",
      collect,
    )
    .addOption(
      new Option('--timeout <ms>', 'how long to wait for the new epoch everywhere')
        .argParser(wholeNumber(1, 3_600_000))
        .default(60_000),
    )
    .option('--json', `${JSON_OPTION_HELP}: { hash, epoch, acceptedMs, activeMs: { node: ms } }`, false)
    .action(
      async (options: EpochOptions & { request: string; url?: string[]; timeout: number; json: boolean }) => {
        const request = loadRequestFile(options.request);
        const epoch = currentEpoch(options);
        // Refused here with the reason, rather than ordered and skipped by every node.
        checkRequest(request, epoch);
        const report = await submitRequest(request, epoch, options);
        if (options.json) {
          printJson(io, report);
          return;
        }
        io.out(`${options.request}: epoch ${report.epoch} is active at every validator of it`);
        io.out(
          `  accepted after ${report.acceptedMs} ms; active at ${Object.entries(report.activeMs)
            .map(([node, ms]) => `${node} ${ms} ms`)
            .join(', ')}`,
        );
      },
    );
}

/** What `validators submit` saw, in milliseconds since it submitted. */
interface SubmitReport {
  readonly hash: string;
  readonly epoch: number;
  readonly acceptedMs: number;
  /** When each validator of the new epoch was first seen in it. */
  readonly activeMs: Readonly<Record<string, number>>;
}

/**
 * Submits `request` as a vertex to the current validators and polls every validator of the
 * epoch it opens until each says it is in that epoch (or a later one).
 *
 * @throws CliError when a validator of the new epoch has no api URL, or on the timeout.
 */
async function submitRequest(
  request: ReconfigurationRequest,
  epoch: Epoch,
  options: { url?: string[]; timeout: number },
): Promise<SubmitReport> {
  const urls =
    options.url ??
    epoch.members.validators.flatMap((validator) => (validator.api === undefined ? [] : [validator.api]));
  const next = request.next.validators;
  const unreachable = next
    .filter((validator) => validator.api === undefined)
    .map((validator) => validator.nodeId);
  if (urls.length === 0 || unreachable.length > 0)
    throw new CliError(
      `every validator needs an api URL to submit to and watch (${[...(urls.length === 0 ? ['the current ones'] : []), ...unreachable].join(', ')} have none): give --url, or add api to the cluster file`,
    );
  const started = performance.now();
  const since = (): number => Math.round(performance.now() - started);
  const client = new BftClient({ nodes: urls });
  const accepted = await client.submit({ payload: requestPayload(request) }, { to: 'one' });
  const acceptedMs = since();
  const watcher = new BftClient({ nodes: next.map((validator) => validator.api!) });
  const activeMs: Record<string, number> = {};
  const opened = request.from + 1;
  while (Object.keys(activeMs).length < next.length) {
    if (since() > options.timeout)
      throw new CliError(
        `epoch ${opened} is not active at ${next
          .filter((validator) => activeMs[validator.nodeId] === undefined)
          .map((validator) => validator.nodeId)
          .join(', ')} after ${options.timeout} ms`,
      );
    for (const validator of next) {
      if (activeMs[validator.nodeId] !== undefined) continue;
      const status = await watcher.status(validator.api!, 2000).catch(() => null);
      if (status !== null && (status.epoch ?? 0) >= opened) activeMs[validator.nodeId] = since();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { hash: accepted.hash, epoch: opened, acceptedMs, activeMs };
}
