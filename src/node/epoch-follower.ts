/**
 * A node's side of a reconfiguration: when its engine enters an epoch (it switched, or it
 * restarted in one), the transport follows (docs/reconfiguration.md, "Keys and the transport").
 * It admits and dials the validators of this epoch and of the one before (a removed validator
 * may still finish its part and catch up), under the keys either epoch lists for them; it
 * handshakes with this node's key of the epoch; and links to anyone else are closed. The quorum
 * watch counts the epoch's validators. The change is logged, and a node that is no longer a
 * validator says so. A joiner (node config `chain`) learns the history up to the epoch it joins
 * from the validators of every epoch on the way.
 */
import { bytesEqual } from '../crypto/digest.ts';
import type { KeyPair, PublicKey } from '../crypto/index.ts';
import type { BftEngine } from '../engine/index.ts';
import type { NodeReconfiguration } from '../reconfig/engine-reconfiguration.ts';
import type { ClusterDiscovery } from '../transport/discovery.ts';
import type { StreamTransport } from '../transport/stream-transport.ts';
import type { Logger } from './log.ts';
import type { QuorumWatch } from './quorum-watch.ts';

export function followEpochs(
  engine: BftEngine,
  transport: StreamTransport,
  discovery: ClusterDiscovery,
  reconfiguration: NodeReconfiguration,
  keyPairs: readonly KeyPair[],
  logger: Logger,
  quorum: QuorumWatch,
): void {
  const self = engine.config.nodeId;
  const joining = reconfiguration.joining?.epoch;
  /** Admits the validators of `epochs` under every key they list, and handshakes as in `own`'s. */
  const setPeers = (epochs: readonly number[], own: number): void => {
    const keys = new Map<string, PublicKey[]>();
    for (const epoch of epochs) {
      for (const validator of reconfiguration.epochMembers(epoch)?.validators ?? []) {
        const known = keys.get(validator.nodeId) ?? [];
        if (!known.some((key) => bytesEqual(key.raw, validator.publicKey.raw)))
          known.push(validator.publicKey);
        keys.set(validator.nodeId, known);
        if (validator.nodeId !== self && validator.address !== undefined)
          discovery.setAddress(validator.nodeId, validator.address);
      }
    }
    const listed = reconfiguration
      .epochMembers(own)
      ?.validators.find((validator) => validator.nodeId === self)?.publicKey;
    const pair =
      listed === undefined ? undefined : keyPairs.find((each) => bytesEqual(each.publicKey.raw, listed.raw));
    transport.setPeers(keys, pair?.privateKey);
  };
  /**
   * A learner fetches from whoever can serve it: the validators of the epoch it is in and of every
   * later one it knows up to the one it joins (they serve it once they are there), and it signs
   * its handshakes with its key of that epoch, the only one it has.
   */
  const learn = (epoch: number): void => {
    const epochs: number[] = [];
    for (let each = epoch; each <= joining!; each++) epochs.push(each);
    setPeers(epochs, joining!);
  };
  if (joining !== undefined && engine.status().learning) learn(engine.status().epoch);
  engine.on('epoch-started', ({ epoch, start, validators, member, learning, restored }) => {
    if (reconfiguration.epochMembers(epoch) === undefined) {
      logger.error('epoch-unknown', {
        epoch,
        detail: 'the engine entered an epoch whose members it never read',
      });
      return;
    }
    const fields = { epoch, start, validators: validators.join(','), restored };
    if (learning) {
      learn(epoch);
      quorum.setValidators(validators, Math.min(engine.status().quorum, validators.length), false);
      logger.info('learning', { ...fields, joining, detail: `fetching the history up to epoch ${joining}` });
      return;
    }
    // A validator whose key was rotated is let in under either key for this epoch: one still
    // finishing the epoch before signs with the old one (docs/reconfiguration.md).
    setPeers(epoch > 0 ? [epoch - 1, epoch] : [epoch], epoch);
    // One that left keeps its last epoch's quorum figures; it is no judge of the new one's.
    quorum.setValidators(validators, Math.min(engine.status().quorum, validators.length), member);
    if (member) logger.info('epoch-started', fields);
    else
      logger.warn('left-validator-set', {
        ...fields,
        detail: 'this node is not a validator of the epoch: it votes no more',
      });
  });
}
