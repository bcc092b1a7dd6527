/**
 * promtool (Debian package `prometheus`) for tests. CI installs it (see .ci/run); on a
 * developer machine without it the tests that need it are skipped with a reason, never
 * passed silently. Under CI a missing promtool fails the test.
 */
import { spawnSync } from 'node:child_process';

export const PROMTOOL = process.env.PROMTOOL ?? 'promtool';

export function promtoolAvailable(): boolean {
  return spawnSync(PROMTOOL, ['--version'], { encoding: 'utf8' }).status === 0;
}

/** The `skip` option for a test that needs promtool: false under CI, so that it runs and fails. */
export function skipWithoutPromtool(): string | false {
  if (process.env.CI) return false;
  return promtoolAvailable() ? false : 'promtool not installed (apt-get install prometheus)';
}

/** Runs promtool with `args`, feeding `input` on stdin. */
export function promtool(args: readonly string[], input?: string): { status: number | null; output: string } {
  const result = spawnSync(PROMTOOL, args, { input, encoding: 'utf8' });
  if (result.error) return { status: null, output: String(result.error) };
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
