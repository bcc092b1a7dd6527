#!/usr/bin/env node
// The `cretoai-node` command. In a checkout it runs the TypeScript source directly (Node 24
// strips the types); installed as a package (under node_modules, where Node does not strip
// types) it runs the build, dist/cli/main.js (`npm run build`). Either way it needs Node 24 or
// later: ML-DSA-87 comes from its OpenSSL 3.5.
import { existsSync } from 'node:fs';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `cretoai-node needs Node 24 or later; this is Node ${process.versions.node}. ` +
      "Install Node 24 (or run it through npm in the project, which uses the project's pinned Node).\n",
  );
  process.exit(1);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
const installed = import.meta.url.includes('/node_modules/');
if (!installed && existsSync(source)) await import(source.href);
else if (existsSync(built)) await import(built.href);
else {
  process.stderr.write('cretoai-node: dist/cli/main.js is missing; run `npm run build` first.\n');
  process.exit(1);
}
