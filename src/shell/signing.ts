/**
 * Signing the core's drafts and verifying peers' messages: the part of the shell that the
 * simulator and the engine share, so both run exactly the same checks.
 */
import type { PrivateKey, PublicKey, SignatureScheme } from '../crypto/index.ts';
import {
  type Draft,
  isSignedKind,
  type Message,
  type NewView,
  type SignedMessage,
} from '../protocol/index.ts';
import { signaturesOf, signBytes } from '../wire/index.ts';

/** The ML-DSA context string of every consensus signature (FIPS 204 domain separation). */
export const CONSENSUS_CONTEXT = new TextEncoder().encode('cretoai-consensus/v1');

/** What a replica signs with. */
export interface SigningIdentity {
  readonly scheme: SignatureScheme;
  readonly privateKey: PrivateKey;
  readonly clusterId: string;
}

/**
 * Signs a draft. A NEW-VIEW's nested PRE-PREPAREs that are still unsigned are signed first:
 * they travel on their own later, inside prepared certificates. A REQUEST goes as it is: it is
 * never signed (see `protocol/messages.ts`).
 */
export function signDraft(identity: SigningIdentity, draft: Draft): Message {
  if (!isSignedKind(draft)) return draft;
  const { scheme, privateKey, clusterId } = identity;
  let body: Draft<SignedMessage> = draft;
  if (body.kind === 'new-view') {
    const newView = body as Draft<NewView>;
    body = {
      ...newView,
      prePrepares: newView.prePrepares.map((prePrepare) =>
        prePrepare.signature.length > 0
          ? prePrepare
          : {
              ...prePrepare,
              signature: scheme.sign(privateKey, signBytes(prePrepare, clusterId), CONSENSUS_CONTEXT),
            },
      ),
    };
  }
  const signature = scheme.sign(privateKey, signBytes(body, clusterId), CONSENSUS_CONTEXT);
  return { ...body, signature } as Message;
}

/** Public keys by replica id; `undefined` for a replica whose key is not known. */
export type PublicKeys = readonly (PublicKey | undefined)[];

/**
 * Whether every signature in `message` (the outer one and all nested ones) verifies under the
 * signer's registered key. A signer without a key fails the check.
 */
export function verifyMessage(
  scheme: SignatureScheme,
  keys: PublicKeys,
  clusterId: string,
  message: Message,
): boolean {
  for (const check of signaturesOf(message, clusterId)) {
    const key = keys[check.replica];
    if (key === undefined || !scheme.verify(key, check.bytes, check.signature, CONSENSUS_CONTEXT))
      return false;
  }
  return true;
}
