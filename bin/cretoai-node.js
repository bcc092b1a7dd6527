#!/usr/bin/env node
// The `cretoai-node` command. In a checkout it runs the TypeScript source directly (Node 24
// strips the types); in the published package, which holds only the build, it runs
// dist/cli/main.js. Either way it needs Node 24 or later (ML-DSA-87 comes from its OpenSSL 3.5).
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `cretoai-node needs Node 24 or later; this is Node ${process.versions.node}. ` +
      'Install Node 24 (or run it through npm, which uses the project\'s pinned Node).\n',
  );
  process.exit(1);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
await import(existsSync(source) ? source.href : built.href);
