/**
 * kubectl (Debian package `kubectl`) for tests, offline: `kubectl kustomize` builds an overlay
 * as kustomize would for `kubectl apply -k`, and `kubectl patch --local` turns its YAML into
 * JSON (the project has no YAML parser). Neither reads a kubeconfig or reaches a cluster:
 * KUBECONFIG points at an empty file. CI installs kubectl (see .ci/run); on a developer
 * machine without it the tests that need it are skipped with a reason, never passed silently.
 * Under CI a missing kubectl fails the test.
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';

export const KUBECTL = process.env.KUBECTL ?? 'kubectl';
export const KUBECTL_MISSING =
  'kubectl is not installed: apt-get install kubectl (CI installs it, see .ci/run)';

const env = { ...process.env, KUBECONFIG: os.devNull };

export function kubectlAvailable(): boolean {
  return spawnSync(KUBECTL, ['version', '--client'], { encoding: 'utf8', env }).status === 0;
}

/** The `skip` option for a test that needs kubectl: false under CI, so that it runs and fails. */
export function skipWithoutKubectl(): string | false {
  if (process.env.CI) return false;
  return kubectlAvailable() ? false : KUBECTL_MISSING;
}

function kubectl(
  args: readonly string[],
  input?: string,
): { status: number | null; stdout: string; output: string } {
  const result = spawnSync(KUBECTL, args, { input, encoding: 'utf8', env, maxBuffer: 64 << 20 });
  if (result.error) return { status: null, stdout: '', output: String(result.error) };
  return { status: result.status, stdout: result.stdout, output: `${result.stdout}${result.stderr}` };
}

/** What `kubectl kustomize <dir>` built: the objects, or why it failed. */
export type KustomizeResult =
  // biome-ignore lint/suspicious/noExplicitAny: manifests are walked as loosely typed JSON
  | { readonly ok: true; readonly objects: Record<string, any>[] }
  | { readonly ok: false; readonly output: string };

/**
 * Builds a kustomization and returns its objects as JSON. The YAML goes through
 * `kubectl patch --local` with an empty merge patch, which decodes each document as kubectl
 * does and changes nothing, and prints each object as one line of JSON.
 */
export function kustomizeBuild(dir: string): KustomizeResult {
  const built = kubectl(['kustomize', dir]);
  if (built.status !== 0) return { ok: false, output: built.output };
  const json = kubectl(
    ['patch', '--local', '-f', '-', '--type', 'merge', '-p', '{}', '-o', 'jsonpath={@}{"\\n"}'],
    built.stdout,
  );
  if (json.status !== 0) return { ok: false, output: `kubectl patch --local: ${json.output}` };
  const lines = json.stdout.split('\n').filter((line) => line.trim() !== '');
  return { ok: true, objects: lines.map((line) => JSON.parse(line)) };
}
