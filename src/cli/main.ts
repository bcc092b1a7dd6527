#!/usr/bin/env node
/**
 * The `cretoai-node` command's entry. Node 24 runs this file as TypeScript in a checkout; the
 * package runs its build, `dist/cli/main.js` (see `bin/cretoai-node.js`).
 */
import { main } from './program.ts';

const code = await main(process.argv, {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
process.exit(code);
