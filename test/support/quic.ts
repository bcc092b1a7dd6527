/**
 * QUIC is optional: `@chainsafe/libp2p-quic` ships its native code as per-platform packages,
 * and a registry without the other platforms' packages makes a lock file that `npm ci`
 * refuses, so it is not a dependency of the package. CI installs it (see .ci/run); elsewhere
 * `npm install --no-save @chainsafe/libp2p-quic@^2.1.1` enables these tests. Without it they are
 * skipped with that reason, except under CI, where they run and fail.
 */
import { importQuicModules } from '../../src/transport/quic.ts';

export async function skipWithoutQuic(): Promise<string | false> {
  if (process.env.CI) return false;
  try {
    await importQuicModules();
    return false;
  } catch {
    return 'QUIC not installed (npm install --no-save @chainsafe/libp2p-quic@^2.1.1)';
  }
}
