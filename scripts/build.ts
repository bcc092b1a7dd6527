/**
 * `npm run build`: the package's `dist/` (or `--out-dir <dir>`, for tests that build a copy).
 *
 * TypeScript compiles `src/` with declarations and source maps that carry their sources (the
 * package ships no `src/`). Two things are copied as they are: the status page's static files,
 * and `src/runtime/` (the Node version check, plain JavaScript so that an old Node can run it).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const root = path.join(import.meta.dirname, '..');
const at = process.argv.indexOf('--out-dir');
const outDir = path.resolve(at >= 0 ? process.argv[at + 1]! : path.join(root, 'dist'));
const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
const compiled = spawnSync(tsc, ['-p', path.join(root, 'tsconfig.build.json'), '--outDir', outDir], {
  stdio: 'inherit',
});
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
fs.cpSync(path.join(root, 'src/node/status-page'), path.join(outDir, 'node/status-page'), {
  recursive: true,
});
fs.cpSync(path.join(root, 'src/runtime'), path.join(outDir, 'runtime'), { recursive: true });
