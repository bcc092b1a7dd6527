/**
 * Errors of the durable store. A store that cannot be trusted is refused, never repaired in
 * place: a replica that restarted from damaged state could sign a vote that contradicts one it
 * signed before the damage, which is exactly the fault PBFT counts against f.
 */
import { CretoaiError } from '../errors.ts';

/** Every reason a store is refused, listed once so that {@link StoreCorruptionCode} derives from it. */
export const STORE_CORRUPTION_CODES = Object.freeze([
  // A record's checksum does not match its key and bytes.
  'checksum',
  // A record's checksum matches but its bytes do not decode (a bug, or a record format this
  // build does not know).
  'malformed',
  // The data directory holds records but no metadata record.
  'missing-metadata',
  // The metadata names a store format this build does not read (usually a newer release).
  'format-version',
  // The metadata names another cluster or another replica: the wrong data directory.
  'identity-mismatch',
  // A key with a prefix this build does not know.
  'unknown-key',
  // Records that contradict each other (an index entry pointing at a record that is missing).
  'inconsistent',
  // LMDB itself reported a damaged file, or the file is not an LMDB environment.
  'lmdb',
  // A backup whose file digest does not match its manifest, or without a manifest.
  'backup',
] as const);

/** Why a store was refused; see {@link STORE_CORRUPTION_CODES}. */
export type StoreCorruptionCode = (typeof STORE_CORRUPTION_CODES)[number];

/**
 * A data directory (or backup) the node must not run on. The message says what is wrong and
 * the ways back; `code` is for programs (the CLI, tests) to branch on.
 */
export class StoreCorruptError extends CretoaiError {
  override readonly name = 'StoreCorruptError';
  readonly code: StoreCorruptionCode;
  /** The data directory or backup concerned. */
  readonly path: string;
  /** What is wrong, without the advice. */
  readonly detail: string;

  constructor(code: StoreCorruptionCode, path: string, detail: string, options?: { cause?: unknown }) {
    super(explain(code, path, detail), options);
    this.code = code;
    this.path = path;
    this.detail = detail;
  }
}

function explain(code: StoreCorruptionCode, path: string, detail: string): string {
  if (code === 'backup') {
    return `the backup at ${path} cannot be restored: ${detail}. Take a fresh backup from a healthy node running this release, or restore another backup of this store format.`;
  }
  const ways =
    'To recover, either wipe the data directory and restart the node, which then rejoins the cluster by' +
    ' state transfer from its peers, or restore a backup (cretoai-node restore --from <backup>).';
  switch (code) {
    case 'identity-mismatch':
      return `the store at ${path} belongs to another node: ${detail}. Check the data directory in the node configuration. If it is the right one, the node refuses to run on it anyway. ${ways}`;
    case 'format-version':
      return `the store at ${path} cannot be read by this release: ${detail}. Run the release that wrote it. ${ways}`;
    default:
      return `the store at ${path} is damaged: ${detail}. The node refuses to run on it, since it could sign votes that contradict ones it signed before. ${ways}`;
  }
}

/** The data directory is already open in this process, or a restore would overwrite data. */
export class StoreInUseError extends CretoaiError {
  readonly code = 'store-in-use';
  override readonly name = 'StoreInUseError';
  readonly path: string;
  constructor(path: string, detail: string) {
    super(`the store at ${path} ${detail}`);
    this.path = path;
  }
}

/** The store was closed, or a write failed and the store stopped taking writes. */
export class StoreClosedError extends CretoaiError {
  readonly code = 'store-closed';
  override readonly name = 'StoreClosedError';
}
