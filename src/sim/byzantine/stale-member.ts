/**
 * The stale member: a validator that goes on using what a reconfiguration took from it.
 *
 * - Now and then its own votes go out a second time, signed with another of its key generations
 *   (the one before its current key, as after a rotation, or the next one, not yet in force).
 *   Honest replicas check each signature with the key the message's epoch lists, so they drop
 *   the copy as an invalid signature, blame this replica alone, and count it nowhere.
 * - Once a removal leaves it out, it keeps sending its last votes, moved to the epoch the others
 *   are in. Honest replicas have no id for it there: they drop them as from an unknown sender,
 *   blame nobody (it is no longer one of theirs) and go on without it.
 *
 * Without reconfiguration, only the first happens: it forges its own identity in epoch 0.
 */
import { insecureSimulationScheme } from '../../crypto/index.ts';
import { isSignedKind, type Message } from '../../protocol/index.ts';
import { CONSENSUS_CONTEXT } from '../../shell/signing.ts';
import { signaturesOf } from '../../wire/index.ts';
import { KEY_GENERATIONS, simulationKeyPair } from '../reconfiguration.ts';
import { ByzantineReplica } from './byzantine-replica.ts';

/** The chance that one of its votes also goes out under another key generation. */
const OTHER_KEY_RATE = 0.3;
/** Its own votes kept, to send again after it was removed. */
const KEPT_MAX = 32;
/** The chance per tick, once removed, of sending one of them again. */
const RESEND_RATE = 0.3;

export class StaleMember extends ByzantineReplica {
  readonly strategy = 'stale-member';
  readonly #kept: Message[] = [];
  readonly #keys = Array.from({ length: KEY_GENERATIONS }, (_, generation) =>
    simulationKeyPair(this.id, generation),
  );

  protected override transmit(message: Message, peers: readonly number[], frame?: Uint8Array): void {
    super.transmit(message, peers, frame);
    const generation = this.#generationOf(message);
    // Relays carry others' signatures: only its own votes are reused.
    if (generation === null) return;
    if (this.#kept.length < KEPT_MAX) this.#kept.push(message);
    else this.#kept[this.prng.int(KEPT_MAX)] = message;
    if (!this.prng.chance(OTHER_KEY_RATE)) return;
    const other = generation > 0 ? generation - 1 : generation + 1;
    const copy = this.signWith(message, this.#keys[other]!.privateKey);
    for (const peer of peers) this.sendTo(peer, copy);
  }

  protected override onTick(): void {
    const status = this.host.instance?.engine.status();
    if (status === undefined || status.member || this.#kept.length === 0) return;
    if (!this.prng.chance(RESEND_RATE)) return;
    const kept = this.prng.pick(this.#kept);
    if (!('epoch' in kept)) return;
    const moved = this.sign({ ...kept, epoch: status.epoch });
    for (const peer of this.peers) this.sendTo(peer, moved);
  }

  protected override onCrash(): void {
    this.#kept.length = 0;
  }

  /** Which of its key generations signed `message`, or null when none did (a relay). */
  #generationOf(message: Message): number | null {
    if (!isSignedKind(message)) return null;
    const [outer] = signaturesOf(message, this.config.clusterId);
    if (outer === undefined) return null;
    const generation = this.#keys.findIndex((pair) =>
      insecureSimulationScheme.verify(pair.publicKey, outer.bytes, outer.signature, CONSENSUS_CONTEXT),
    );
    return generation < 0 ? null : generation;
  }
}
