import assert from 'node:assert/strict';
import { test } from 'node:test';
import { insecureSimulationScheme } from '../../src/crypto/index.ts';
import type { Draft, Message, NewView, Prepare } from '../../src/protocol/index.ts';
import { signDraft, verifyMessage } from '../../src/shell/signing.ts';

const scheme = insecureSimulationScheme;
const keys = [0, 1, 2, 3].map((id) => scheme.keyPairFromSeed(new Uint8Array(32).fill(id + 1)));
const identity = (id: number, clusterId = 'c') => ({ scheme, privateKey: keys[id]!.privateKey, clusterId });
const publicKeys = keys.map((pair) => pair.publicKey);
const digest = new Uint8Array(32).fill(7);

const prepare = (replica: number): Draft<Prepare> => ({
  kind: 'prepare',
  epoch: 0,
  view: 0,
  sequence: 1,
  digest,
  replica,
});

test('a signed draft verifies under its signer key in its cluster, and nowhere else', () => {
  const message = signDraft(identity(1), prepare(1));
  assert.equal(verifyMessage(scheme, publicKeys, 'c', message), true);
  assert.equal(verifyMessage(scheme, publicKeys, 'other-cluster', message), false);
  assert.equal(verifyMessage(scheme, [publicKeys[0], publicKeys[0], publicKeys[2]], 'c', message), false);
  assert.equal(verifyMessage(scheme, [], 'c', message), false, 'an unknown signer fails');
  const tampered = { ...message, sequence: 2 } as Message;
  assert.equal(verifyMessage(scheme, publicKeys, 'c', tampered), false);
});

test('a NEW-VIEW is checked down to its nested messages, and its unsigned PRE-PREPAREs are signed by the shell', () => {
  const viewChanges = [0, 1, 2].map((id) =>
    signDraft(identity(id), {
      kind: 'view-change',
      epoch: 0,
      view: 1,
      checkpoint: { sequence: 0, stateDigest: digest, proof: [] },
      prepared: [],
      replica: id,
    }),
  ) as NewView['viewChanges'][number][];
  const draft: Draft<NewView> = {
    kind: 'new-view',
    epoch: 0,
    view: 1,
    viewChanges,
    prePrepares: [
      {
        kind: 'pre-prepare',
        epoch: 0,
        view: 1,
        sequence: 1,
        digest,
        batch: null,
        replica: 1,
        signature: new Uint8Array(0),
      },
    ],
    replica: 1,
  };
  const newView = signDraft(identity(1), draft) as NewView;
  assert.ok(newView.prePrepares[0]!.signature.length > 0);
  assert.equal(verifyMessage(scheme, publicKeys, 'c', newView), true);
  // A forged VIEW-CHANGE inside an otherwise validly signed NEW-VIEW fails the whole message.
  const forged = { ...viewChanges[2]!, signature: new Uint8Array(viewChanges[2]!.signature).fill(0) };
  const resigned = signDraft(identity(1), {
    ...draft,
    viewChanges: [viewChanges[0]!, viewChanges[1]!, forged],
  });
  assert.equal(verifyMessage(scheme, publicKeys, 'c', resigned), false);
});
