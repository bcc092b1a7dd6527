/**
 * Signing drafts on the libuv thread pool: the asynchronous counterpart of `signDraft` for
 * drivers that must not block the event loop (the engine). An ML-DSA-87 signature costs about
 * a millisecond; signed on the pool, several are made at once on every core while the event
 * loop goes on decoding and stepping.
 */
import {
  type Draft,
  isSignedKind,
  type Message,
  type NewView,
  type SignedMessage,
} from '../protocol/index.ts';
import { signBytes } from '../wire/index.ts';
import { CONSENSUS_CONTEXT, type SigningIdentity } from './signing.ts';

/**
 * Signs a draft exactly as `signDraft` does, off the event loop. A NEW-VIEW's unsigned nested
 * PRE-PREPAREs are signed first (in parallel): the NEW-VIEW's own sign-bytes cover their
 * signatures. A REQUEST, never signed, comes back as it is.
 */
export async function signDraftAsync(identity: SigningIdentity, draft: Draft): Promise<Message> {
  if (!isSignedKind(draft)) return draft;
  const { scheme, privateKey, clusterId } = identity;
  let body: Draft<SignedMessage> = draft;
  if (body.kind === 'new-view') {
    const newView = body as Draft<NewView>;
    const prePrepares = await Promise.all(
      newView.prePrepares.map(async (prePrepare) =>
        prePrepare.signature.length > 0
          ? prePrepare
          : {
              ...prePrepare,
              signature: await scheme.signAsync(
                privateKey,
                signBytes(prePrepare, clusterId),
                CONSENSUS_CONTEXT,
              ),
            },
      ),
    );
    body = { ...newView, prePrepares };
  }
  const signature = await scheme.signAsync(privateKey, signBytes(body, clusterId), CONSENSUS_CONTEXT);
  return { ...body, signature } as Message;
}
