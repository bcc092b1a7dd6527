/**
 * The LMDB store's files on disk: their names, and the helpers that make a file (and its
 * directory entry) durable or digest it, for backups and restores.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** LMDB's data file in a data directory (or a backup). */
export const DATA_FILE = 'data.mdb';
/** LMDB's lock file in a data directory. */
export const LOCK_FILE = 'lock.mdb';

/** The size and SHA-256 (hex) of a file, read as a stream. */
export async function digestFile(file: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

export function fsyncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function fsyncDirectory(directory: string): void {
  const fd = fs.openSync(directory, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `file` through a synced temporary file and a synced rename: all or nothing. */
export function writeFileDurably(file: string, contents: string): void {
  const temporary = `${file}.tmp`;
  fs.writeFileSync(temporary, contents);
  fsyncFile(temporary);
  fs.renameSync(temporary, file);
  fsyncDirectory(path.dirname(file));
}
