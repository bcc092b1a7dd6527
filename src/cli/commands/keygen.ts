/**
 * `cretoai-node keygen`: a new ML-DSA-87 key pair, the private key to a file.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { exportPublicKeyPem, mlDsa87 } from '../../crypto/index.ts';
import type { Io } from '../cluster-commands.ts';
import { writePrivateKey } from '../init.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** Adds `keygen` to `program`. */
export function addKeygenCommand(program: Command, io: Io): void {
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
}
