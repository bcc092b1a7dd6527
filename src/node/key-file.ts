/**
 * Reading a private key file, refusing one that other users can read, as ssh refuses an
 * unprotected identity file: whoever reads a validator's key can sign as that validator (vote
 * twice, equivocate in its name), and a key left readable is one careless `cp` or backup away
 * from that.
 *
 * The rule is ssh's (`sshkey_perm_ok` in OpenSSH's authfile.c), with one addition:
 *
 * - A file owned by the user the node runs as must grant nothing to group or others
 *   (`mode & 0o077` is 0): `chmod 600` fixes it.
 * - A file owned by another user is read through its group or "other" bits, so ssh does not
 *   check it. Kubernetes mounts Secrets so: owned by root, group the pod's `fsGroup`, and the
 *   group read bit is set whatever `defaultMode` says (kubernetes/kubernetes#57923), so a
 *   group bit must be allowed here or no pod could start. What is refused is a file every user
 *   of the machine can read (`mode & 0o007`), which ssh would let pass.
 *
 * The mode is read from the opened file (fstat on its descriptor) and the key from the same
 * descriptor, so a file swapped between the check and the read cannot slip through. On
 * Windows, where modes do not describe who can read a file, there is no check.
 */

import fs from 'node:fs';
import { CretoaiError } from '../errors.ts';

/** Why a key file's permissions are refused; the message names the file, its mode and the fix. */
export class KeyFilePermissionError extends CretoaiError {
  override readonly name = 'KeyFilePermissionError';
  readonly code = 'key-file-too-open';
  readonly file: string;
  /** The file's permission bits (`mode & 0o777`). */
  readonly mode: number;

  constructor(file: string, mode: number, detail: string) {
    super(`${file} has mode ${octal(mode)}: ${detail}`);
    this.file = file;
    this.mode = mode;
  }
}

/** `0o644` as `0644`, the way `ls -l` users and `chmod` write it. */
function octal(mode: number): string {
  return `0${(mode & 0o777).toString(8).padStart(3, '0')}`;
}

/** Who may read a key file besides its owner, as far as the rule above cares. */
export type KeyFileExposure = 'group-or-others' | 'everyone';

/**
 * Whether a key file with this owner and mode is too open for a process running as
 * `processUid`: null when it may be used.
 */
export function keyFileExposure(
  stat: { readonly mode: number; readonly uid: number },
  processUid: number,
): KeyFileExposure | null {
  if (stat.uid === processUid) return (stat.mode & 0o077) === 0 ? null : 'group-or-others';
  return (stat.mode & 0o007) === 0 ? null : 'everyone';
}

/** What `readPrivateKeyFile` checks against; tests pass their own. */
export interface KeyFileCheckOptions {
  /** Default `process.platform`; 'win32' skips the check. */
  readonly platform?: NodeJS.Platform;
  /** Default `process.getuid()`. */
  readonly uid?: number;
}

/**
 * Reads a private key file as UTF-8 text, after checking its permissions (see the module
 * comment).
 *
 * @throws KeyFilePermissionError when the file is readable by others; the errors of
 *   `fs.openSync` and `fs.readFileSync` (ENOENT, EACCES, ...) otherwise.
 */
export function readPrivateKeyFile(file: string, options: KeyFileCheckOptions = {}): string {
  const fd = fs.openSync(file, 'r');
  try {
    const platform = options.platform ?? process.platform;
    if (platform !== 'win32') {
      const stat = fs.fstatSync(fd);
      const uid = options.uid ?? process.getuid?.() ?? stat.uid;
      const exposure = keyFileExposure(stat, uid);
      if (exposure === 'group-or-others') {
        throw new KeyFilePermissionError(
          file,
          stat.mode,
          `a private key must be readable by its owner only (whoever reads it can sign as this validator); run: chmod 600 ${file}`,
        );
      }
      if (exposure === 'everyone') {
        throw new KeyFilePermissionError(
          file,
          stat.mode,
          `every user of this machine can read this private key (whoever reads it can sign as this validator); make it readable by this node's user (uid ${uid}) only: chown ${uid} ${file} && chmod 600 ${file}`,
        );
      }
    }
    return fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
}
