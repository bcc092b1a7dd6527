/**
 * JSON files checked against a zod schema: the node configuration and the cluster file. One
 * reader, one wording of mistakes, one way to emit a file's JSON Schema for editors.
 *
 * zod (rather than valibot or ajv): its schemas are TypeScript, so the checked value has a type
 * without a second declaration; v4 emits JSON Schema itself (`z.toJSONSchema`), with no plugin;
 * and it is the most used and best kept of the three. ajv starts from JSON Schema and gives no
 * types; valibot needs a separate package for JSON Schema.
 */
import fs from 'node:fs';
import * as z from 'zod';

/** A mistake in a file: the field's path (`http.listen`, `validators[2].nodeId`; '' for the file) and what is wrong. */
export interface FileMistake {
  readonly field: string;
  readonly detail: string;
}

/** A field path as people write it: `validators[2].publicKey`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else text += text === '' ? String(key) : `.${String(key)}`;
  }
  return text;
}

/** What each JSON type is called in a mistake. */
const EXPECTED: Readonly<Record<string, string>> = Object.freeze({
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
  record: 'an object',
});

/**
 * The wording of the mistakes that schemas leave to the parse (their own `error` goes first):
 * what was expected, in words, and what was found.
 */
function describeIssue(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      if (issue.input === undefined) return `is required: ${expected}`;
      return `must be ${expected}, got ${JSON.stringify(issue.input)}`;
    }
    case 'invalid_value':
      return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}, got ${JSON.stringify(issue.input)}`;
    case 'unrecognized_keys':
      return 'is not a known field';
    default:
      return undefined;
  }
}

/**
 * Checks `json` against `schema`.
 *
 * @returns the checked value, or the first mistake. A field the schema does not know is named
 *   before any other mistake: a misspelt field is both unknown and missing, and the unknown
 *   spelling is what points at the typo.
 */
export function checkAgainst<Schema extends z.ZodType>(
  schema: Schema,
  json: unknown,
):
  | { readonly ok: true; readonly value: z.output<Schema> }
  | { readonly ok: false; readonly mistake: FileMistake } {
  const result = schema.safeParse(json, { error: describeIssue });
  if (result.success) return { ok: true, value: result.data };
  const issues = result.error.issues;
  const unknown = issues.find((issue) => issue.code === 'unrecognized_keys');
  if (unknown !== undefined) {
    return {
      ok: false,
      mistake: { field: fieldPath([...unknown.path, unknown.keys[0]!]), detail: unknown.message },
    };
  }
  const first = issues[0]!;
  return { ok: false, mistake: { field: fieldPath(first.path), detail: first.message } };
}

/**
 * Reads a JSON file that must hold an object.
 *
 * @param fail - throws the caller's error for a mistake in the file as a whole (field '').
 */
export function readJsonObject(
  file: string,
  fail: (detail: string, cause?: unknown) => never,
): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    fail(`cannot be read (${(error as NodeJS.ErrnoException).code ?? error})`, error);
  }
  return parseJsonObject(text, fail);
}

/** Parses the text of a JSON file that must hold an object; `fail` as for {@link readJsonObject}. */
export function parseJsonObject(
  text: string,
  fail: (detail: string, cause?: unknown) => never,
): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail('must hold a JSON object');
  return json as Record<string, unknown>;
}

/**
 * The JSON Schema of a file, for editors (`"$schema"` in the file) and for tools, as the text
 * written to `schema/<name>.schema.json`. It describes what a file may hold (defaults are
 * optional); rules that need more than one field or another file (a key that matches the
 * cluster file, unique validators) are checked only when the file is loaded.
 */
export function jsonSchemaText(
  schema: z.ZodType,
  meta: { readonly title: string; readonly description: string },
): string {
  const generated = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12' }) as Record<
    string,
    unknown
  >;
  const { $schema, ...rest } = generated;
  return `${JSON.stringify({ $schema, ...meta, ...rest }, null, 2)}\n`;
}
