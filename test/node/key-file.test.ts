/**
 * The private key file rule (src/node/key-file.ts): ssh's (a key owned by the node's user must
 * grant nothing to group or others), and a key owned by another user, read through its group
 * as Kubernetes mounts Secrets, must not be readable by every user.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { KeyFilePermissionError, keyFileExposure, readPrivateKeyFile } from '../../src/node/key-file.ts';
import { tempDir } from './support.ts';

const POSIX_ONLY = process.platform === 'win32' ? 'Windows has no POSIX file modes' : false;

describe('private key file rule', () => {
  it("a key owned by the node's user must grant nothing to group or others (ssh's rule)", () => {
    const own = (mode: number) => keyFileExposure({ mode: 0o100000 | mode, uid: 1000 }, 1000);
    assert.equal(own(0o600), null);
    assert.equal(own(0o400), null);
    for (const mode of [0o640, 0o644, 0o604, 0o610, 0o601, 0o666, 0o700 | 0o070])
      assert.equal(own(mode), 'group-or-others', mode.toString(8));
  });

  it('a key owned by another user may be group-readable (a Kubernetes Secret with fsGroup: root:fsGroup 0440), not world-readable', () => {
    const other = (mode: number) => keyFileExposure({ mode: 0o100000 | mode, uid: 0 }, 10001);
    assert.equal(other(0o440), null);
    assert.equal(other(0o640), null);
    for (const mode of [0o444, 0o644, 0o604, 0o401]) assert.equal(other(mode), 'everyone', mode.toString(8));
  });

  it('readPrivateKeyFile checks the opened file and reads the key from it', { skip: POSIX_ONLY }, (t) => {
    const file = path.join(tempDir(t), 'node.key.pem');
    fs.writeFileSync(file, 'KEY', { mode: 0o600 });
    const owner = fs.statSync(file).uid;
    assert.equal(readPrivateKeyFile(file), 'KEY');
    fs.chmodSync(file, 0o644);
    assert.throws(
      () => readPrivateKeyFile(file),
      (error: unknown) =>
        error instanceof KeyFilePermissionError &&
        error.code === 'key-file-too-open' &&
        error.file === file &&
        (error.mode & 0o777) === 0o644 &&
        error.message.includes('0644') &&
        error.message.includes(`chmod 600 ${file}`),
    );
    // As another user (as in a Kubernetes pod), group read is how the key is read; world read is refused.
    fs.chmodSync(file, 0o640);
    assert.equal(readPrivateKeyFile(file, { uid: owner + 1 }), 'KEY');
    fs.chmodSync(file, 0o644);
    assert.throws(
      () => readPrivateKeyFile(file, { uid: owner + 1 }),
      (error: unknown) => error instanceof KeyFilePermissionError && error.message.includes('chmod 600'),
    );
    // Windows modes do not say who can read a file: no check there.
    assert.equal(readPrivateKeyFile(file, { platform: 'win32' }), 'KEY');
    // A missing file is the file system's error, not a permission refusal.
    assert.throws(
      () => readPrivateKeyFile(`${file}.missing`),
      (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT',
    );
  });
});
