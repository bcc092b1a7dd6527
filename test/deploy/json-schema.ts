/**
 * A small JSON Schema validator (the draft-07 keywords the schemas in deploy/k8s/schemas use:
 * type, const, enum, required, properties, additionalProperties, propertyNames, items,
 * minItems, minimum, maximum, minLength, maxLength, pattern, $ref to #/definitions/...).
 * An unknown keyword is an error, so a schema cannot silently check less than it says.
 */
export type Schema = Record<string, unknown>;

const KNOWN = new Set([
  '$comment',
  'type',
  'const',
  'enum',
  'required',
  'properties',
  'additionalProperties',
  'propertyNames',
  'items',
  'minItems',
  'minimum',
  'maximum',
  'minLength',
  'maxLength',
  'pattern',
  '$ref',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

export function validate(
  value: unknown,
  schema: Schema,
  definitions: Record<string, Schema>,
  at = '$',
): string[] {
  const errors: string[] = [];
  for (const key of Object.keys(schema))
    if (!KNOWN.has(key)) errors.push(`${at}: schema keyword ${key} unsupported`);
  if (typeof schema.$ref === 'string') {
    const match = /^#\/definitions\/(.+)$/.exec(schema.$ref);
    const target = match ? definitions[match[1] as string] : undefined;
    if (target === undefined) return [...errors, `${at}: unresolved $ref ${schema.$ref}`];
    errors.push(...validate(value, target, definitions, at));
  }
  const actual = typeOf(value);
  if (schema.type !== undefined) {
    const allowed = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const ok = allowed.includes(actual) || (actual === 'integer' && allowed.includes('number'));
    if (!ok) return [...errors, `${at}: expected ${allowed.join('|')}, got ${actual}`];
  }
  if ('const' in schema && value !== schema.const)
    errors.push(`${at}: expected ${JSON.stringify(schema.const)}, got ${JSON.stringify(value)}`);
  if (Array.isArray(schema.enum) && !schema.enum.includes(value))
    errors.push(`${at}: ${JSON.stringify(value)} not one of ${JSON.stringify(schema.enum)}`);
  if (typeof value === 'string') {
    if (typeof schema.minLength === 'number' && value.length < schema.minLength)
      errors.push(`${at}: too short`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
      errors.push(`${at}: too long`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value))
      errors.push(`${at}: ${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum)
      errors.push(`${at}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum)
      errors.push(`${at}: above ${schema.maximum}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems)
      errors.push(`${at}: fewer than ${schema.minItems} items`);
    if (schema.items !== undefined)
      value.forEach((item, i) => {
        errors.push(...validate(item, schema.items as Schema, definitions, `${at}[${i}]`));
      });
  }
  if (actual === 'object') {
    const object = value as Record<string, unknown>;
    for (const key of (schema.required as string[] | undefined) ?? [])
      if (!(key in object)) errors.push(`${at}: missing required ${key}`);
    const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
    for (const [key, item] of Object.entries(object)) {
      if (schema.propertyNames !== undefined)
        errors.push(...validate(key, schema.propertyNames as Schema, definitions, `${at}{${key}}`));
      const sub = properties[key];
      if (sub !== undefined) errors.push(...validate(item, sub, definitions, `${at}.${key}`));
      else if (schema.additionalProperties === false) errors.push(`${at}: unknown field ${key}`);
      else if (typeof schema.additionalProperties === 'object')
        errors.push(...validate(item, schema.additionalProperties as Schema, definitions, `${at}.${key}`));
    }
  }
  return errors;
}
