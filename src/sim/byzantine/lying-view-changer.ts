/**
 * The lying view-changer: its VIEW-CHANGEs and NEW-VIEWs tell some peers the truth and others
 * one of these lies, each re-signed with its real key:
 *
 * - VIEW-CHANGE: no prepared certificates at all (amnesia, valid); its previous VIEW-CHANGE
 *   replayed for the new view (stale certificates and checkpoint, valid); a forged prepared
 *   certificate (too few PREPAREs, one PREPARE counted twice, or one it made up itself, for an
 *   earlier view or the new one); a checkpoint certificate whose proof does not match it;
 *   certificates out of order.
 * - NEW-VIEW, as new primary: re-proposals that do not match its VIEW-CHANGEs (a digest
 *   changed, one dropped, one added), too few VIEW-CHANGEs, or a self-serving but valid one:
 *   its own VIEW-CHANGE replaced by an amnesic one and the re-proposals recomputed, so that
 *   different peers enter the view with different PRE-PREPAREs.
 *
 * The valid lies are what PBFT must survive by quorum intersection; the invalid ones must be
 * rejected and blamed on this replica alone.
 */

import { bytesEqual } from '../../crypto/digest.ts';
import {
  type Message,
  type NewView,
  NULL_BATCH_DIGEST,
  type PrePrepare,
  type Prepare,
  type PreparedCertificate,
  planNewView,
  type ViewChange,
} from '../../protocol/index.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The share of peers that get the lie rather than the truth. */
const LIE_RATE = 0.6;

export class LyingViewChanger extends ByzantineReplica {
  readonly strategy = 'lying-view-changer';
  /** The last true VIEW-CHANGE it sent, replayed later as a stale one. */
  #previous: ViewChange | null = null;

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    if (message.replica !== this.id || (message.kind !== 'view-change' && message.kind !== 'new-view')) {
      super.transmit(message, peers, frame);
      return;
    }
    const lie = message.kind === 'view-change' ? this.#lieInViewChange(message) : this.#lieInNewView(message);
    if (message.kind === 'view-change' && (this.#previous === null || this.#previous.view < message.view))
      this.#previous = message;
    for (const peer of peers) this.sendTo(peer, this.prng.chance(LIE_RATE) ? lie : message);
  }

  #lieInViewChange(viewChange: ViewChange): ViewChange {
    switch (this.prng.int(5)) {
      case 0:
        return this.sign({ ...viewChange, prepared: [] });
      case 1: {
        const previous = this.#previous;
        if (previous === null || previous.view >= viewChange.view)
          return this.sign({ ...viewChange, prepared: [] });
        return this.sign({ ...previous, view: viewChange.view });
      }
      case 2:
        return this.sign({ ...viewChange, prepared: this.#forgedCertificates(viewChange) });
      case 3:
        return this.sign({
          ...viewChange,
          checkpoint: { ...viewChange.checkpoint, stateDigest: this.randomDigest() },
        });
      default:
        if (viewChange.prepared.length < 2)
          return this.sign({ ...viewChange, prepared: this.#forgedCertificates(viewChange) });
        return this.sign({ ...viewChange, prepared: [...viewChange.prepared].reverse() });
    }
  }

  /** The prepared certificates with one forged: too few PREPAREs, a PREPARE twice, or made up. */
  #forgedCertificates(viewChange: ViewChange): PreparedCertificate[] {
    const prepared = [...viewChange.prepared];
    const index = prepared.length === 0 ? -1 : this.prng.int(prepared.length);
    const held = index < 0 ? undefined : prepared[index]!;
    if (held !== undefined && held.prepares.length > 0 && this.prng.chance(0.5)) {
      const prepares = this.prng.chance(0.5)
        ? held.prepares.slice(0, held.prepares.length - 1)
        : [...held.prepares.slice(0, held.prepares.length - 1), held.prepares[0]!];
      prepared[index] = { ...held, prepares };
      return prepared;
    }
    // A certificate made up from scratch: a PRE-PREPARE this replica signs for a view it may not
    // lead, backed by its own PREPARE only; now and then for the new view itself, which no
    // prepared certificate of a VIEW-CHANGE may be.
    const sequence = held?.prePrepare.sequence ?? viewChange.checkpoint.sequence + 1;
    const view = this.prng.chance(0.3)
      ? viewChange.view
      : Math.max(0, viewChange.view - 1 - this.prng.int(2));
    const digest = this.randomDigest();
    const { epoch } = viewChange;
    const prePrepare = this.sign<PrePrepare>({
      kind: 'pre-prepare',
      epoch,
      view,
      sequence,
      digest,
      batch: null,
      replica: this.id,
    });
    const prepare = this.sign<Prepare>({ kind: 'prepare', epoch, view, sequence, digest, replica: this.id });
    const made: PreparedCertificate = { prePrepare, prepares: [prepare] };
    if (index < 0) return [made];
    prepared[index] = made;
    return prepared;
  }

  #lieInNewView(newView: NewView): NewView {
    const prePrepares = [...newView.prePrepares];
    switch (this.prng.int(5)) {
      case 0: {
        if (prePrepares.length === 0) break;
        const index = this.prng.int(prePrepares.length);
        const held = prePrepares[index]!;
        const digest = bytesEqual(held.digest, NULL_BATCH_DIGEST) ? this.randomDigest() : NULL_BATCH_DIGEST;
        prePrepares[index] = this.unsigned({ ...held, digest });
        return this.sign({ ...newView, prePrepares });
      }
      case 1:
        if (prePrepares.length === 0) break;
        return this.sign({ ...newView, prePrepares: prePrepares.slice(0, -1) });
      case 2:
        return this.#selfServing(newView);
      case 3:
        return this.sign({ ...newView, viewChanges: newView.viewChanges.slice(1) });
      default:
        break;
    }
    // One re-proposal too many, past the highest prepared sequence.
    const last = prePrepares.at(-1)?.sequence ?? newView.viewChanges[0]!.checkpoint.sequence;
    prePrepares.push(
      this.unsigned({
        kind: 'pre-prepare',
        epoch: newView.epoch,
        view: newView.view,
        sequence: last + 1,
        digest: this.randomDigest(),
        batch: null,
        replica: this.id,
      }),
    );
    return this.sign({ ...newView, prePrepares });
  }

  /**
   * A valid NEW-VIEW other than the true one: this replica's own VIEW-CHANGE in it replaced by
   * one without prepared certificates, and the re-proposals recomputed from the new set.
   */
  #selfServing(newView: NewView): NewView {
    const own = newView.viewChanges.find((viewChange) => viewChange.replica === this.id);
    const amnesic = this.sign<ViewChange>({
      kind: 'view-change',
      epoch: newView.epoch,
      view: newView.view,
      checkpoint: (own ?? newView.viewChanges[0]!).checkpoint,
      prepared: [],
      replica: this.id,
    });
    const others = newView.viewChanges.filter((viewChange) => viewChange.replica !== this.id);
    const viewChanges = [...others.slice(0, this.config.quorum - 1), amnesic].sort(
      (a, b) => a.replica - b.replica,
    );
    const plan = planNewView(this.config, newView.epoch, newView.view, viewChanges);
    return this.sign({
      ...newView,
      viewChanges,
      prePrepares: plan.prePrepares.map((prePrepare) => this.unsigned(prePrepare)),
    });
  }
}
