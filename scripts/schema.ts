/**
 * `npm run schema`: writes the JSON Schemas of the node configuration and cluster files to
 * `schema/`, from the zod schemas the loaders check files with. The files are committed and
 * published with the package, for editors (`"$schema"` in a file) and other tools; a test fails
 * when they differ from what the code generates, so run this after changing a schema.
 */
import fs from 'node:fs';
import path from 'node:path';
import { clusterFileJsonSchema } from '../src/client/cluster-file.ts';
import { nodeConfigJsonSchema } from '../src/node/config.ts';

/** Each schema file, relative to the package root, and the text it must hold. */
export const SCHEMA_FILES: Readonly<Record<string, () => string>> = Object.freeze({
  'schema/node-config.schema.json': nodeConfigJsonSchema,
  'schema/cluster.schema.json': clusterFileJsonSchema,
});

if (import.meta.main) {
  const root = path.join(import.meta.dirname, '..');
  for (const [file, generate] of Object.entries(SCHEMA_FILES)) {
    fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    fs.writeFileSync(path.join(root, file), generate());
    console.log(`wrote ${file}`);
  }
}
