/**
 * The request file operators pass around: `cretoai-node validators propose-*` writes it, each
 * operator's `validators sign` adds a signature, and `validators check` (later `submit`) reads it.
 *
 * ```json
 * {
 *   "format": "cretoai-reconfiguration/v1",
 *   "clusterId": "local-3f2a",
 *   "from": 0,
 *   "operations": [{ "op": "add", "validator": { "nodeId": "node-4", "publicKey": "...", "address": "..." } }],
 *   "next": { "validators": [...], "consensus": {...}, "operators": { "keys": [...], "threshold": 1 } },
 *   "signatures": [{ "operator": 0, "signature": "<9,254 hex digits>" }]
 * }
 * ```
 *
 * Keys are written as SPKI PEM, as in the cluster file; either PEM or raw hex is read. What the
 * signatures cover does not depend on the spelling (see `request.ts`).
 */
import fs from 'node:fs';
import * as z from 'zod';
import {
  operatorSetSchema,
  parsePublicKey,
  type ValidatorEntry,
  validatorEntry,
  validatorEntrySchema,
  writtenMembers,
  writtenOperators,
  writtenValidator,
} from '../client/cluster-file.ts';
import { checkAgainst, fieldPath, parseJsonObject } from '../client/schema-file.ts';
import { exportPublicKeyPem, mlDsa87, type PublicKey } from '../crypto/index.ts';
import { engineFiguresSchema } from '../engine/config-schema.ts';
import { ReconfigurationError } from './errors.ts';
import { checkMembers, type Operation } from './operations.ts';
import type { OperatorSignature, ReconfigurationRequest } from './request.ts';

/** The value of the `format` field this release writes and reads. */
export const REQUEST_FILE_FORMAT = 'cretoai-reconfiguration/v1';

const SIGNATURE_HEX = new RegExp(`^[0-9a-fA-F]{${2 * mlDsa87.signatureBytes}}$`);
const nodeIdSchema = z.string({ error: 'must be a node id' });

const operationSchema = z.discriminatedUnion(
  'op',
  [
    z.strictObject({ op: z.literal('add'), validator: validatorEntrySchema }),
    z.strictObject({ op: z.literal('remove'), nodeId: nodeIdSchema }),
    z.strictObject({ op: z.literal('replace'), nodeId: nodeIdSchema, validator: validatorEntrySchema }),
    z.strictObject({
      op: z.literal('rotate-key'),
      nodeId: nodeIdSchema,
      publicKey: z.string({ error: 'must be a PEM public key or 5,184 hex digits' }),
    }),
    z.strictObject({ op: z.literal('set-figures'), consensus: engineFiguresSchema }),
    z.strictObject({ op: z.literal('set-operators'), operators: operatorSetSchema }),
  ],
  { error: 'must be an operation: add, remove, replace, rotate-key, set-figures or set-operators' },
);

/** The shape of a request file; keys, members and signatures are checked after it. */
export const requestFileSchema = z.strictObject({
  format: z.literal(REQUEST_FILE_FORMAT, {
    error: (issue) => `is ${JSON.stringify(issue.input)}; this release reads ${REQUEST_FILE_FORMAT}`,
  }),
  clusterId: z.string({ error: 'must be a string' }),
  from: z
    .number({ error: 'must be a whole number' })
    .int({ error: 'must be a whole number' })
    .min(0, { error: 'must be at least 0' }),
  operations: z.array(operationSchema, { error: 'must be a list' }),
  next: z.strictObject({
    validators: z.array(validatorEntrySchema, { error: 'must be a non-empty list' }),
    consensus: engineFiguresSchema.optional(),
    operators: operatorSetSchema.optional(),
  }),
  signatures: z.array(
    z.strictObject({
      operator: z
        .number({ error: 'must be a whole number' })
        .int({ error: 'must be a whole number' })
        .min(0, { error: 'must be at least 0' }),
      signature: z
        .string({ error: 'must be a string' })
        .regex(SIGNATURE_HEX, { error: `must be ${2 * mlDsa87.signatureBytes} hex digits` }),
    }),
    { error: 'must be a list' },
  ),
});

type WrittenValidator = z.output<typeof validatorEntrySchema>;

/** Parses the text of a request file; `file` names it in errors (ReconfigurationError `malformed`). */
export function parseRequestFile(text: string, file: string): ReconfigurationRequest {
  const fail = (field: string, detail: string, cause?: unknown): never => {
    throw new ReconfigurationError(
      'malformed',
      `request file ${file}: ${field === '' ? '' : `${field}: `}${detail}`,
      cause === undefined ? undefined : { cause },
    );
  };
  const json = parseJsonObject(text, (detail) => fail('', detail));
  const checked = checkAgainst(requestFileSchema, json);
  if (!checked.ok) return fail(checked.mistake.field, checked.mistake.detail);
  const written = checked.value;
  const key = (text: string, path: readonly PropertyKey[]): PublicKey => {
    try {
      return parsePublicKey(text);
    } catch (error) {
      return fail(fieldPath(path), `is not an ML-DSA-87 public key (${(error as Error).message})`, error);
    }
  };
  const validator = (entry: WrittenValidator, path: readonly PropertyKey[]): ValidatorEntry =>
    validatorEntry({ ...entry, publicKey: key(entry.publicKey, [...path, 'publicKey']) });
  const readOperation = (
    operation: (typeof written.operations)[number],
    at: readonly PropertyKey[],
  ): Operation => {
    switch (operation.op) {
      case 'add':
        return { op: 'add', validator: validator(operation.validator, [...at, 'validator']) };
      case 'remove':
        return { op: 'remove', nodeId: operation.nodeId };
      case 'replace':
        return {
          op: 'replace',
          nodeId: operation.nodeId,
          validator: validator(operation.validator, [...at, 'validator']),
        };
      case 'rotate-key':
        return {
          op: 'rotate-key',
          nodeId: operation.nodeId,
          publicKey: key(operation.publicKey, [...at, 'publicKey']),
        };
      case 'set-figures':
        return { op: 'set-figures', consensus: operation.consensus };
      case 'set-operators': {
        const keys = operation.operators.keys.map((text, k) => key(text, [...at, 'operators', 'keys', k]));
        return { op: 'set-operators', operators: { keys, threshold: operation.operators.threshold } };
      }
    }
  };
  const operations = written.operations.map((operation, i) => readOperation(operation, ['operations', i]));
  const next = checkMembers({ clusterId: written.clusterId, ...written.next }, `request file ${file}: next`);
  const signatures = written.signatures.map(
    (entry): OperatorSignature => ({
      operator: entry.operator,
      signature: new Uint8Array(Buffer.from(entry.signature, 'hex')),
    }),
  );
  return Object.freeze({
    clusterId: written.clusterId,
    from: written.from,
    operations: Object.freeze(operations),
    next,
    signatures: Object.freeze(signatures),
  });
}

/** Reads and parses a request file (ReconfigurationError `malformed` when it cannot be read). */
export function loadRequestFile(file: string): ReconfigurationRequest {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ReconfigurationError(
      'malformed',
      `request file ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`,
      { cause: error },
    );
  }
  return parseRequestFile(text, file);
}

function writtenOperation(operation: Operation): Record<string, unknown> {
  switch (operation.op) {
    case 'add':
      return { op: operation.op, validator: writtenValidator(operation.validator) };
    case 'remove':
      return { op: operation.op, nodeId: operation.nodeId };
    case 'replace':
      return { op: operation.op, nodeId: operation.nodeId, validator: writtenValidator(operation.validator) };
    case 'rotate-key':
      return {
        op: operation.op,
        nodeId: operation.nodeId,
        publicKey: exportPublicKeyPem(operation.publicKey),
      };
    case 'set-figures':
      return { op: operation.op, consensus: operation.consensus };
    case 'set-operators':
      return { op: operation.op, operators: writtenOperators(operation.operators) };
  }
}

/** The JSON text of a request file. */
export function formatRequestFile(request: ReconfigurationRequest): string {
  return `${JSON.stringify(
    {
      format: REQUEST_FILE_FORMAT,
      clusterId: request.clusterId,
      from: request.from,
      operations: request.operations.map(writtenOperation),
      next: writtenMembers(request.next),
      signatures: request.signatures.map((entry) => ({
        operator: entry.operator,
        signature: Buffer.from(entry.signature).toString('hex'),
      })),
    },
    null,
    2,
  )}\n`;
}
