/**
 * The JSON Schemas of the node configuration and cluster files: the committed files are what
 * the code generates (so the package publishes the schemas its loaders check), and the files
 * `init` writes name a copy of them, which the loaders accept.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { SCHEMA_FILES } from '../../scripts/schema.ts';
import { loadNodeSettings } from '../../src/node/config.ts';
import { clusterDir } from './support.ts';

const root = path.join(import.meta.dirname, '../..');

describe('configuration JSON Schemas', () => {
  it('the committed schema files are what the code generates (run `npm run schema` after a change)', () => {
    for (const [file, generate] of Object.entries(SCHEMA_FILES)) {
      const committed = fs.readFileSync(path.join(root, file), 'utf8');
      assert.equal(committed, generate(), `${file} differs from the schema in the code: run npm run schema`);
    }
  });

  it('the package publishes them', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    assert.ok(manifest.files.includes('schema'), JSON.stringify(manifest.files));
  });

  it('the files init writes name their schema, which sits beside them, and still load', async (t) => {
    const cluster = await clusterDir(t, 4);
    for (const file of [cluster.clusterFile, ...cluster.configFiles]) {
      const { $schema } = JSON.parse(fs.readFileSync(file, 'utf8'));
      const expected =
        file === cluster.clusterFile ? 'schema/cluster.schema.json' : 'schema/node-config.schema.json';
      assert.equal($schema, expected, file);
      assert.equal(
        fs.readFileSync(path.join(path.dirname(file), $schema), 'utf8'),
        SCHEMA_FILES[expected]!(),
      );
    }
    assert.equal(loadNodeSettings(cluster.configFiles[0]!).nodeId, 'node-0');
  });
});
