/**
 * A node's store, from the outside: `backup`, `restore`, `wipe` and `verify-store`.
 *
 * - `backup` takes a consistent snapshot. A running node makes it itself (`POST
 *   /v1/admin/backup` on its loopback API: LMDB copies one read snapshot while the node keeps
 *   writing); a stopped node's store is opened here and copied the same way.
 * - `restore` checks the backup (manifest, SHA-256 of the data file, then every record on a
 *   staging copy) before it installs it; it refuses while the node runs.
 * - `wipe` moves the data directory aside (kept for inspection): at its next start the node has
 *   an empty store and rejoins by state transfer from its peers.
 *
 * Restoring an older backup or wiping a store makes the node forget votes it signed since. The
 * node then relies on its peers' certificates to catch up; do it on at most f nodes at a time.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BackupTargetError, checkBackupTargetIsolated } from '../node/backup-target.ts';
import type { NodeSettings } from '../node/config.ts';
import { dataDirHolder, LOCK_FILE } from '../node/data-lock.ts';
import { type BackupManifest, LmdbStore, type VerifyReport } from '../storage/lmdb.ts';
import { CliError } from './errors.ts';

/** The node's own API URL as seen from this machine (a wildcard listen address means loopback). */
export function localApiUrl(settings: NodeSettings): string {
  const { host, port } = settings.http.listen;
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`;
}

/** Whether a data directory holds anything but a stale lock file. */
function holdsStore(dataDir: string): boolean {
  if (!fs.existsSync(dataDir)) return false;
  return fs.readdirSync(dataDir).some((entry) => entry !== LOCK_FILE);
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-');
}

/**
 * Writes a backup of the node's store to `out` (relative to the working directory); asks the
 * running node when there is one. Either way the target must pass the same rules
 * (`backup-target.ts`: a new or empty directory, outside the data directory, /proc, /sys and
 * /dev), checked in a child process that cannot leave this one hanging on the file system.
 */
export async function backupNode(
  settings: NodeSettings,
  out: string,
): Promise<BackupManifest & { readonly via: 'node' | 'store' }> {
  const target = path.resolve(out);
  if (dataDirHolder(settings.dataDir) !== null) {
    const url = `${localApiUrl(settings)}/v1/admin/backup`;
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ out: target }),
      });
    } catch (error) {
      throw new CliError(`the node runs but its API at ${url} does not answer (${(error as Error).message})`);
    }
    const body = (await response.json()) as BackupManifest & { error?: { message: string } };
    if (response.status !== 200)
      throw new CliError(`the node refused the backup: ${body.error?.message ?? response.status}`);
    return { ...body, via: 'node' };
  }
  if (!holdsStore(settings.dataDir)) throw new CliError(`${settings.dataDir} holds no store to back up`);
  const store = await LmdbStore.open({
    path: settings.dataDir,
    clusterId: settings.cluster.clusterId,
    replica: settings.replica,
  });
  try {
    let checked: string;
    try {
      checked = await checkBackupTargetIsolated(
        { out: target, dataDir: settings.dataDir, create: true },
        { timeoutMs: settings.http.backupCheckTimeoutMs },
      );
    } catch (error) {
      if (error instanceof BackupTargetError) throw new CliError(error.message, 1, { cause: error });
      throw error;
    }
    return { ...(await store.backup(checked)), via: 'store' };
  } finally {
    await store.close();
  }
}

/** Refuses when the node runs on its data directory. */
function requireStopped(settings: NodeSettings, action: string): void {
  const pid = dataDirHolder(settings.dataDir);
  if (pid !== null) {
    throw new CliError(`the node runs on ${settings.dataDir} (process ${pid}); stop it before you ${action}`);
  }
}

/**
 * Installs a checked backup as the node's store. With `replace`, a store already there is moved
 * aside to `<dataDir>.replaced-<time>`; without it, one there is a refusal.
 */
export async function restoreNode(
  settings: NodeSettings,
  from: string,
  options: { readonly replace?: boolean } = {},
): Promise<{ readonly report: BackupManifest & VerifyReport; readonly movedTo: string | null }> {
  requireStopped(settings, 'restore');
  const { dataDir } = settings;
  let movedTo: string | null = null;
  if (holdsStore(dataDir)) {
    if (options.replace !== true) {
      throw new CliError(
        `${dataDir} already holds a store; pass --replace to move it aside (to ${path.basename(dataDir)}.replaced-<time>) and restore`,
      );
    }
  }
  // Check the backup before touching the data directory: a bad one leaves the store in place.
  const staging = `${dataDir}.restoring-${timestamp()}`;
  const report = await LmdbStore.restoreBackup(from, staging, {
    clusterId: settings.cluster.clusterId,
    replica: settings.replica,
  });
  if (holdsStore(dataDir)) {
    movedTo = `${dataDir}.replaced-${timestamp()}`;
    fs.renameSync(dataDir, movedTo);
  } else {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  fs.renameSync(staging, dataDir);
  return { report, movedTo };
}

/** Moves the node's data directory aside (or deletes it); returns where it went. */
export function wipeNode(settings: NodeSettings, options: { readonly delete?: boolean } = {}): string | null {
  requireStopped(settings, 'wipe its store');
  const { dataDir } = settings;
  if (!fs.existsSync(dataDir)) return null;
  if (options.delete === true) {
    fs.rmSync(dataDir, { recursive: true, force: true });
    return null;
  }
  const movedTo = `${dataDir}.wiped-${timestamp()}`;
  fs.renameSync(dataDir, movedTo);
  return movedTo;
}

/** Reads and checks every record of the node's store. */
export async function verifyNodeStore(settings: NodeSettings): Promise<VerifyReport> {
  requireStopped(settings, 'check its store');
  if (!holdsStore(settings.dataDir)) throw new CliError(`${settings.dataDir} holds no store`);
  const store = await LmdbStore.open({
    path: settings.dataDir,
    clusterId: settings.cluster.clusterId,
    replica: settings.replica,
  });
  try {
    return store.verify();
  } finally {
    await store.close();
  }
}
