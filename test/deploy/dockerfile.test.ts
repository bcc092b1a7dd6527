/**
 * deploy/Dockerfile, checked statically (no docker engine here; the image is not built by
 * the tests): multi-stage, Node 24, production dependencies only in the runtime stage, a
 * non-root user, a data volume, a health check on /healthz, and the ports the Kubernetes
 * manifests use.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CONSENSUS_PORT, DATA_DIR, HTTP_PORT } from '../../deploy/k8s/new-overlay.ts';

const root = path.join(import.meta.dirname, '../..');
const text = fs.readFileSync(path.join(root, 'deploy/Dockerfile'), 'utf8');
// Instructions, with continuation lines joined.
const lines = text
  .replace(/\\\n/g, ' ')
  .split('\n')
  .filter((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
const stages = lines.map((l, i) => ({ l, i })).filter(({ l }) => /^FROM /.test(l));

test('two stages on Node 24; the build stage installs with npm ci and builds', () => {
  assert.equal(stages.length, 2);
  for (const { l } of stages) assert.match(l, /^FROM node:24(-slim)?\b/);
  const build = lines.slice(0, (stages[1] as { i: number }).i).join('\n');
  assert.match(build, /RUN npm ci\b/);
  assert.match(build, /npm run build/);
  assert.match(build, /npm prune --omit=dev/);
  // `npm run build` is scripts/build.ts, which compiles src/ and copies from it.
  const buildScript = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).scripts.build;
  assert.equal(buildScript, 'node scripts/build.ts');
  for (const dir of ['src', 'bin', 'scripts'])
    assert.match(build, new RegExp(`COPY ${dir} \\./${dir}\\b`), dir);
});

test('the runtime stage: no npm install, non-root user, volume, health check, ports', () => {
  const runtime = lines.slice((stages[1] as { i: number }).i);
  const joined = runtime.join('\n');
  assert.doesNotMatch(joined, /npm (ci|install)/);
  assert.doesNotMatch(joined, /COPY (src|test)\b/);
  const user = runtime.filter((l) => l.startsWith('USER '));
  assert.equal(user.length, 1);
  assert.doesNotMatch(user[0] as string, /USER (root|0)\b/);
  assert.match(joined, new RegExp(`VOLUME \\["${DATA_DIR}"\\]`));
  assert.match(joined, /HEALTHCHECK .*\/healthz/);
  assert.match(joined, new RegExp(`EXPOSE .*\\b${CONSENSUS_PORT}/tcp\\b.*\\b${HTTP_PORT}/tcp\\b`));
  assert.match(joined, /ENTRYPOINT \["node", "\/app\/bin\/cretoai-node.js"\]/);
});

test('the ignore file keeps node_modules, .git and tests out of the context', () => {
  const ignore = fs.readFileSync(path.join(root, 'deploy/Dockerfile.dockerignore'), 'utf8').split('\n');
  for (const entry of ['.git', 'node_modules', 'dist', 'test']) assert.ok(ignore.includes(entry), entry);
});
