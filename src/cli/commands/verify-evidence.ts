/**
 * `cretoai-node verify-evidence`: checks evidence of Byzantine behaviour against the cluster's keys.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import { clusterKeysOf } from '../../client/client.ts';
import { loadClusterFile } from '../../client/cluster-file.ts';
import { verifyEvidenceJson } from '../../client/evidence.ts';
import type { Io } from '../cluster-commands.ts';
import { CliError } from '../errors.ts';
import { JSON_OPTION_HELP, printJson } from './options.ts';

/** Adds `verify-evidence` to `program`. */
export function addVerifyEvidenceCommand(program: Command, io: Io): void {
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
}
