/**
 * `cretoai-node validators`: build, sign and check requests that change the validator set
 * (docs/reconfiguration.md). `propose-add`, `propose-remove`, `replace` and `rotate-key` write an
 * unsigned request against the current epoch, or add their operation to one not signed yet;
 * `sign` adds one operator's signature; `check` says whether the request would take effect.
 *
 * Nodes do not order requests yet, so the current epoch is the cluster file's: epoch 0.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import {
  loadClusterFile,
  parsePublicKey,
  type ValidatorEntry,
  validatorEntry,
} from '../../client/cluster-file.ts';
import { importPrivateKeyPem } from '../../crypto/index.ts';
import { readPrivateKeyFile } from '../../node/key-file.ts';
import { type Epoch, epochZero } from '../../reconfig/epoch.ts';
import type { Operation } from '../../reconfig/operations.ts';
import {
  checkRequest,
  proposeRequest,
  type ReconfigurationRequest,
  signRequest,
} from '../../reconfig/request.ts';
import { formatRequestFile, loadRequestFile } from '../../reconfig/request-file.ts';
import type { Io } from '../cluster-commands.ts';
import { CliError } from '../errors.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** The options every proposing subcommand takes. */
interface ProposeOptions {
  cluster: string;
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

/** The current epoch: the cluster file's. */
function currentEpoch(clusterFile: string): Epoch {
  return epochZero(loadClusterFile(clusterFile));
}

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
  const epoch = currentEpoch(options.cluster);
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
    .option('--out <file>', 'where to write the signed request (default: the --request file)')
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: { request: string; key: string; cluster: string; out?: string; json: boolean }) => {
      const keys = importPrivateKeyPem(readPrivateKeyFile(options.key));
      const signed = signRequest(loadRequestFile(options.request), currentEpoch(options.cluster), keys);
      writeRequest(io, options.out ?? options.request, signed, options.json);
    });

  validators
    .command('check')
    .description('check a request as a node will: its epoch, its next validators and its signatures')
    .requiredOption('--request <file>', 'the request file')
    .requiredOption('--cluster <file>', 'the cluster file: the epoch and its operators')
    .option('--json', JSON_OPTION_HELP, false)
    .action((options: { request: string; cluster: string; json: boolean }) => {
      const request = loadRequestFile(options.request);
      const checked = checkRequest(request, currentEpoch(options.cluster));
      if (options.json) {
        printJson(io, { ...summary(request, options.request), valid: true, threshold: checked.threshold });
        return;
      }
      io.out(`${options.request} takes effect on epoch ${request.from}: ${describe(request)}`);
      io.out(`  signed by operators ${checked.signers.join(', ')} (${checked.threshold} needed)`);
    });
}
