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

/**
 * Why this kubectl cannot build the overlays, or null if it can; undefined without kubectl.
 * They use `components` (kustomize 3.7) and `labels` (kustomize 4.1), which kubectl embeds
 * from 1.22 on (it names its kustomize only from 1.24). Debian bookworm's own
 * `kubernetes-client` is kubectl 1.20, with kustomize 2.0.3; the `kubectl` package comes from
 * the Kubernetes (pkgs.k8s.io) or Google Cloud apt repository.
 */
export function kubectlTooOld(): string | null | undefined {
  const result = spawnSync(KUBECTL, ['version', '--client', '-o', 'json'], { encoding: 'utf8', env });
  if (result.status !== 0) return undefined;
  const { clientVersion, kustomizeVersion } = JSON.parse(result.stdout);
  const kustomize = /^v(\d+)\.(\d+)/.exec(kustomizeVersion ?? '');
  const ok =
    kustomize === null
      ? Number(clientVersion?.major) > 1 || Number.parseInt(clientVersion?.minor, 10) >= 22
      : Number(kustomize[1]) > 4 || (Number(kustomize[1]) === 4 && Number(kustomize[2]) >= 1);
  return ok
    ? null
    : `kubectl ${clientVersion?.gitVersion} embeds a kustomize older than 4.1, which the overlays need (kubectl 1.22 or later)`;
}

/** The `skip` option for a test that needs kubectl: false under CI, so that it runs and fails. */
export function skipWithoutKubectl(): string | false {
  if (process.env.CI) return false;
  const tooOld = kubectlTooOld();
  if (tooOld === undefined) return KUBECTL_MISSING;
  return tooOld ?? false;
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
