#!/usr/bin/env node
// The `cretoai-node` command. In a checkout it runs the TypeScript source directly (Node 24
// strips the types); installed as a package (under node_modules, where Node does not strip
// types) it runs the build, dist/cli/main.js (`npm run build`). Either way it needs Node 24 or
// later; the check is the library's own (runtime/require-node.js, plain JavaScript so that an
// old Node can run it), made here before anything else is loaded.
import { existsSync } from 'node:fs';

const installed = import.meta.url.includes('/node_modules/');
const tree = !installed && existsSync(new URL('../src/cli/main.ts', import.meta.url)) ? 'src' : 'dist';
try {
  await import(new URL(`../${tree}/runtime/require-node.js`, import.meta.url).href);
} catch (error) {
  if (error?.code === 'ERR_CRETOAI_NODE_VERSION') {
    process.stderr.write(
      `cretoai-node: ${error.message} Install Node 24 (or run it through npm in the project, which uses the project's pinned Node).\n`,
    );
    process.exit(1);
  }
  if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
}
const entry = new URL(tree === 'src' ? '../src/cli/main.ts' : '../dist/cli/main.js', import.meta.url);
if (existsSync(entry)) await import(entry.href);
else {
  process.stderr.write('cretoai-node: dist/cli/main.js is missing; run `npm run build` first.\n');
  process.exit(1);
}
