/**
 * The forger: part of what it sends carries a signature that does not verify. Its signer gets
 * a share of signatures wrong, so its engine sends those messages to everyone as they are (and
 * steps its own copies, which it does not check); on the way out it corrupts more: the outer
 * signature, or one nested inside a VIEW-CHANGE, NEW-VIEW or STATE-REPLY (re-signing the outer
 * one, so that only the nested check fails), or it claims another replica's id on a message it
 * signed itself (a REQUEST, which is not signed, only ever the last). Each peer gets the
 * forged copy or the real one, so that the forger keeps taking part in the protocol and the
 * honest replicas must tell its good messages from its bad.
 */

import type { PrivateKey, SignatureScheme } from '../../crypto/index.ts';
import {
  type Checkpoint,
  type CheckpointCertificate,
  isSignedKind,
  type Message,
  type NewView,
  type StateReply,
  type ViewChange,
} from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The share of messages forged, and the share of peers that get the forged copy of one. */
const FORGE_RATE = 0.35;
const FORGED_PEER_RATE = 0.5;
/** The share of signatures its signer gets wrong. */
const BAD_SIGNATURE_RATE = 0.1;

export class Forger extends ByzantineReplica {
  readonly strategy = 'forger';

  protected override signer(scheme: SignatureScheme): SignatureScheme {
    const forger = this;
    return {
      name: scheme.name,
      publicKeyBytes: scheme.publicKeyBytes,
      seedBytes: scheme.seedBytes,
      signatureBytes: scheme.signatureBytes,
      generateKeyPair: () => scheme.generateKeyPair(),
      keyPairFromSeed: (seed) => scheme.keyPairFromSeed(seed),
      exportSeed: (privateKey) => scheme.exportSeed(privateKey),
      importPublicKey: (raw) => scheme.importPublicKey(raw),
      sign: (privateKey, message, context) => scheme.sign(privateKey, message, context),
      verify: (publicKey, message, signature, context) =>
        scheme.verify(publicKey, message, signature, context),
      verifyAsync: (publicKey, message, signature, context) =>
        scheme.verifyAsync(publicKey, message, signature, context),
      async signAsync(privateKey: PrivateKey, message: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
        const signature = await scheme.signAsync(privateKey, message, context);
        return forger.prng.chance(BAD_SIGNATURE_RATE) ? forger.#corrupt(signature) : signature;
      },
    };
  }

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if (!this.prng.chance(FORGE_RATE)) {
      super.transmit(message, peers, frame);
      return;
    }
    const forged = this.#forge(message);
    for (const peer of peers) this.sendTo(peer, this.prng.chance(FORGED_PEER_RATE) ? forged : message);
  }

  #forge(message: Message): Message {
    // A REQUEST has no signature to corrupt; claiming another replica's is its only forgery.
    if (!isSignedKind(message)) return { ...message, replica: this.#otherReplica() };
    switch (this.prng.int(3)) {
      case 0:
        return { ...message, signature: this.#corrupt(message.signature) };
      case 1: {
        const nested = this.#corruptNested(message);
        if (nested !== null) return this.sign(nested);
        return { ...message, signature: this.#corrupt(message.signature) };
      }
      default: {
        // Claims to come from another replica, signed with this replica's own key.
        return this.sign({ ...message, replica: this.#otherReplica() } as Message);
      }
    }
  }

  /** Any replica but this one. */
  #otherReplica(): number {
    const n = this.config.replicaCount;
    return (this.id + 1 + this.prng.int(n - 1)) % n;
  }

  /** A copy of `signature` with one bit flipped. */
  #corrupt(signature: Uint8Array): Uint8Array {
    const out = signature.slice();
    const index = this.prng.int(out.length);
    out[index] = out[index]! ^ (1 << this.prng.int(8));
    return out;
  }

  /** `message` with one nested signature corrupted, or null when it nests none. */
  #corruptNested(message: Message): Message | null {
    switch (message.kind) {
      case 'view-change':
        return this.#corruptViewChange(message);
      case 'new-view':
        return this.#corruptNewView(message);
      case 'state-reply':
        return this.#corruptStateReply(message);
      default:
        return null;
    }
  }

  #corruptViewChange(viewChange: ViewChange): ViewChange | null {
    const { checkpoint, prepared } = viewChange;
    const choices = checkpoint.proof.length + prepared.length;
    if (choices === 0) return null;
    const pick = this.prng.int(choices);
    if (pick < checkpoint.proof.length) {
      const proof: Checkpoint[] = [...checkpoint.proof];
      proof[pick] = { ...proof[pick]!, signature: this.#corrupt(proof[pick]!.signature) };
      const certificate: CheckpointCertificate = { ...checkpoint, proof };
      return { ...viewChange, checkpoint: certificate };
    }
    const index = pick - checkpoint.proof.length;
    const certificate = prepared[index]!;
    const corrupted =
      certificate.prepares.length > 0 && this.prng.chance(0.5)
        ? {
            ...certificate,
            prepares: certificate.prepares.map((prepare, i) =>
              i === 0 ? { ...prepare, signature: this.#corrupt(prepare.signature) } : prepare,
            ),
          }
        : {
            ...certificate,
            prePrepare: {
              ...certificate.prePrepare,
              signature: this.#corrupt(certificate.prePrepare.signature),
            },
          };
    return { ...viewChange, prepared: prepared.map((held, i) => (i === index ? corrupted : held)) };
  }

  #corruptNewView(newView: NewView): NewView | null {
    const { viewChanges, prePrepares } = newView;
    if (prePrepares.length > 0 && this.prng.chance(0.5)) {
      const index = this.prng.int(prePrepares.length);
      return {
        ...newView,
        prePrepares: prePrepares.map((prePrepare, i) =>
          i === index ? { ...prePrepare, signature: this.#corrupt(prePrepare.signature) } : prePrepare,
        ),
      };
    }
    if (viewChanges.length === 0) return null;
    const index = this.prng.int(viewChanges.length);
    const viewChange = viewChanges[index]!;
    // Either the VIEW-CHANGE's own signature or one nested in it.
    const corrupted = this.#corruptViewChange(viewChange) ?? {
      ...viewChange,
      signature: this.#corrupt(viewChange.signature),
    };
    return { ...newView, viewChanges: viewChanges.map((held, i) => (i === index ? corrupted : held)) };
  }

  #corruptStateReply(reply: StateReply): StateReply | null {
    const withCommits = reply.entries.findIndex((entry) => entry.commits.length > 0);
    if (withCommits < 0) return null;
    return {
      ...reply,
      entries: reply.entries.map((entry, i) =>
        i === withCommits
          ? {
              ...entry,
              commits: entry.commits.map((commit, j) =>
                j === 0 ? { ...commit, signature: this.#corrupt(commit.signature) } : commit,
              ),
            }
          : entry,
      ),
    };
  }
}
