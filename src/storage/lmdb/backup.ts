/**
 * Backups of the LMDB store and their restore. A backup is LMDB's consistent copy of the data
 * file next to a manifest with the store's identity and the copy's SHA-256, which a restore
 * checks before LMDB ever maps the copy; the restored copy is then opened and verified in a
 * staging directory, and installed only if every check passes.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ReplicaId } from '../../protocol/types.ts';
import { StoreCorruptError, StoreInUseError } from '../errors.ts';
import type { Db, VerifyReport } from '../record-checks.ts';
import {
  describeReadableStoreFormats,
  STORE_FORMAT_VERSION,
  UPGRADABLE_STORE_FORMATS,
} from '../record-codec.ts';
import { DATA_FILE, digestFile, fsyncDirectory, fsyncFile, LOCK_FILE, writeFileDurably } from './files.ts';

/** What a backup holds, as its manifest says. */
export interface BackupManifest {
  readonly backupVersion: number;
  readonly formatVersion: number;
  readonly clusterId: string;
  readonly replica: ReplicaId;
  readonly lastFinalized: number;
  readonly dataBytes: number;
  /** SHA-256 of the backup's data file, hex. */
  readonly dataSha256: string;
}

/** The store a backup is taken of, or must belong to. */
export interface StoreIdentity {
  readonly clusterId: string;
  readonly replica: ReplicaId;
}

const MANIFEST_FILE = 'MANIFEST';
const BACKUP_VERSION = 1;
const MANIFEST_MAGIC = 'cretoai-backup';

/**
 * Writes a consistent snapshot of the environment `db` to `toPath` (a new or empty directory)
 * while the store stays in use: LMDB's copy (`mdb_env_copy`) reads one snapshot in a read
 * transaction. Next to the copy goes a manifest with the store's identity, `lastFinalized` (the
 * last finalized sequence the copy holds at least: a commit may land during the copy) and the
 * SHA-256 of the copy.
 */
export async function writeBackup(
  db: Db,
  toPath: string,
  identity: StoreIdentity,
  lastFinalized: number,
): Promise<BackupManifest> {
  const target = path.resolve(toPath);
  if (fs.existsSync(target) && fs.readdirSync(target).length > 0) {
    throw new StoreInUseError(target, 'is not empty: a backup goes to a new or empty directory');
  }
  fs.mkdirSync(target, { recursive: true });
  await db.backup(target, false);
  const dataPath = path.join(target, DATA_FILE);
  fsyncFile(dataPath);
  const { bytes, sha256 } = await digestFile(dataPath);
  const manifest: BackupManifest = {
    backupVersion: BACKUP_VERSION,
    formatVersion: STORE_FORMAT_VERSION,
    clusterId: identity.clusterId,
    replica: identity.replica,
    lastFinalized,
    dataBytes: bytes,
    dataSha256: sha256,
  };
  writeFileDurably(path.join(target, MANIFEST_FILE), formatManifest(manifest));
  return manifest;
}

/**
 * Installs the backup at `fromPath` as the data directory `dataDir` (which must not hold a
 * store), after checking it: the manifest, the SHA-256 of the data file, then, on a staging
 * copy, what `verifyCopy` checks (the store opens it and verifies every record). Nothing is
 * installed unless every check passes.
 *
 * @param expected - when given, the cluster and replica the backup must belong to.
 * @throws StoreCorruptError (code 'backup', or 'identity-mismatch') when the backup is refused.
 * @throws StoreInUseError when `dataDir` already holds a store.
 */
export async function restoreBackup(
  fromPath: string,
  dataDir: string,
  expected: StoreIdentity | undefined,
  verifyCopy: (stagingPath: string, manifest: BackupManifest) => Promise<VerifyReport>,
): Promise<BackupManifest & VerifyReport> {
  const source = path.resolve(fromPath);
  const target = path.resolve(dataDir);
  const manifest = readManifest(source);
  if (
    expected !== undefined &&
    (expected.clusterId !== manifest.clusterId || expected.replica !== manifest.replica)
  ) {
    throw new StoreCorruptError(
      'identity-mismatch',
      source,
      `the backup is of replica ${manifest.replica} in cluster "${manifest.clusterId}", not replica ${expected.replica} in cluster "${expected.clusterId}"`,
    );
  }
  const { bytes, sha256 } = await digestFile(path.join(source, DATA_FILE));
  if (bytes !== manifest.dataBytes || sha256 !== manifest.dataSha256) {
    throw new StoreCorruptError(
      'backup',
      source,
      `${DATA_FILE} does not match its manifest (${bytes} bytes, SHA-256 ${sha256}; the manifest says ${manifest.dataBytes} bytes, ${manifest.dataSha256})`,
    );
  }
  if (fs.existsSync(target) && fs.readdirSync(target).length > 0) {
    throw new StoreInUseError(target, 'is not empty: move it away before restoring a backup into it');
  }
  const parent = path.dirname(target);
  fs.mkdirSync(parent, { recursive: true });
  const staging = fs.mkdtempSync(path.join(parent, `${path.basename(target)}.restore-`));
  try {
    fs.copyFileSync(path.join(source, DATA_FILE), path.join(staging, DATA_FILE));
    fsyncFile(path.join(staging, DATA_FILE));
    let report: VerifyReport;
    try {
      report = await verifyCopy(staging, manifest);
    } catch (error) {
      if (error instanceof StoreCorruptError) {
        throw new StoreCorruptError('backup', source, `its records do not check out (${error.detail})`, {
          cause: error,
        });
      }
      throw error;
    }
    fs.rmSync(path.join(staging, LOCK_FILE), { force: true });
    if (fs.existsSync(target)) fs.rmdirSync(target);
    fs.renameSync(staging, target);
    fsyncDirectory(parent);
    return { ...manifest, ...report };
  } catch (error) {
    fs.rmSync(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The manifest is a small text file a person can read: one "name value" per line. The cluster
 * id is percent-encoded so that any id fits on one line.
 */
function formatManifest(manifest: BackupManifest): string {
  return [
    `${MANIFEST_MAGIC} ${manifest.backupVersion}`,
    `store-format ${manifest.formatVersion}`,
    `cluster-id ${encodeURIComponent(manifest.clusterId)}`,
    `replica ${manifest.replica}`,
    `last-finalized ${manifest.lastFinalized}`,
    `data-bytes ${manifest.dataBytes}`,
    `data-sha256 ${manifest.dataSha256}`,
    '',
  ].join('\n');
}

function readManifest(source: string): BackupManifest {
  const file = path.join(source, MANIFEST_FILE);
  const refuse = (detail: string): never => {
    throw new StoreCorruptError('backup', source, detail);
  };
  if (!fs.existsSync(file))
    refuse(`it has no ${MANIFEST_FILE} (is it a backup made by cretoai-node backup?)`);
  if (!fs.existsSync(path.join(source, DATA_FILE))) refuse(`it has no ${DATA_FILE}`);
  const fields = new Map<string, string>();
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (line === '') continue;
    const space = line.indexOf(' ');
    if (space <= 0) refuse(`${MANIFEST_FILE} has a malformed line "${line}"`);
    fields.set(line.slice(0, space), line.slice(space + 1));
  }
  const field = (name: string): string => fields.get(name) ?? refuse(`${MANIFEST_FILE} lacks "${name}"`);
  const integer = (name: string): number => {
    const text = field(name);
    const value = Number(text);
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value))
      refuse(`${MANIFEST_FILE} has a bad "${name}": ${text}`);
    return value;
  };
  const backupVersion = integer(MANIFEST_MAGIC);
  if (backupVersion !== BACKUP_VERSION) refuse(`backup version ${backupVersion} is unknown to this release`);
  const formatVersion = integer('store-format');
  if (formatVersion !== STORE_FORMAT_VERSION && !UPGRADABLE_STORE_FORMATS.has(formatVersion)) {
    refuse(
      `it holds store format ${formatVersion}, this release reads ${describeReadableStoreFormats()} only ` +
        '(restore it with the release that wrote it, or let the node rejoin by state transfer: ' +
        'cretoai-node wipe, then start it)',
    );
  }
  let clusterId = '';
  try {
    clusterId = decodeURIComponent(field('cluster-id'));
  } catch {
    refuse(`${MANIFEST_FILE} has a bad "cluster-id"`);
  }
  const dataSha256 = field('data-sha256');
  if (!/^[0-9a-f]{64}$/.test(dataSha256)) refuse(`${MANIFEST_FILE} has a bad "data-sha256"`);
  return {
    backupVersion,
    formatVersion,
    clusterId,
    replica: integer('replica'),
    lastFinalized: integer('last-finalized'),
    dataBytes: integer('data-bytes'),
    dataSha256,
  };
}
