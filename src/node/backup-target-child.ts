/**
 * The child process of `checkBackupTargetIsolated`: checks one backup target (and makes its
 * directories) with `checkBackupTarget`, answers over IPC, and exits. It may hang in the file
 * system: the parent kills it then.
 */
import {
  BackupTargetError,
  type BackupTargetReply,
  type BackupTargetRequest,
  checkBackupTarget,
} from './backup-target.ts';

process.once('message', (request: BackupTargetRequest) => {
  checkBackupTarget(request.out, { dataDir: request.dataDir, create: request.create }).then(
    (target) => answer({ ok: true, target }),
    (error: unknown) => {
      if (error instanceof BackupTargetError) answer({ ok: false, code: error.code, message: error.message });
      else answer({ ok: false, code: 'unusable', message: `${request.out}: ${(error as Error).message}` });
    },
  );
});

function answer(reply: BackupTargetReply): void {
  process.send!(reply, () => process.disconnect());
}
