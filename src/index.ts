/**
 * cretoai-consensus: Byzantine-fault-tolerant consensus (PBFT) with ML-DSA-87 signatures.
 *
 * Layers, from the bottom: `crypto` (digests and signature schemes), `wire` (the bounded
 * binary codec and sign-bytes), `protocol` (the replica as a pure state machine) and the shell
 * helpers that every driver of the core shares (signing drafts, releasing effects only after
 * they are durable).
 */
export * from './crypto/index.ts';
export * from './protocol/index.ts';
export { ReleaseQueue } from './shell/release-queue.ts';
export {
  CONSENSUS_CONTEXT,
  type PublicKeys,
  type SigningIdentity,
  signDraft,
  verifyMessage,
} from './shell/signing.ts';
export * from './wire/index.ts';
