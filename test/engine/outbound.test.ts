/**
 * The engine's send path: signed messages leave in the order the core produced them, whatever
 * order their signatures finish in; an unsigned REQUEST leaves at once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OutboundQueue } from '../../src/engine/outbound.ts';
import type { Destination, Draft, Message } from '../../src/protocol/index.ts';
import { createVertex } from '../../src/protocol/types.ts';
import { TEST_VALID_THROUGH } from '../support/vertex.ts';

/** A queue whose signatures finish only when the test says so. */
function queue() {
  const sent: string[] = [];
  const signing: (() => void)[] = [];
  let idle = 0;
  const outbound = new OutboundQueue({
    sign: (draft: Draft) =>
      new Promise<Message>((resolve) =>
        signing.push(() => resolve({ ...draft, signature: new Uint8Array([1]) } as Message)),
      ),
    send: (to: Destination, message: Message) => sent.push(`${message.kind}->${String(to)}`),
    failed: (error) => assert.fail(String(error)),
    idle: () => idle++,
  });
  return { outbound, sent, signing, idles: () => idle };
}

const vote = (kind: 'prepare' | 'commit'): Draft =>
  ({ kind, epoch: 0, view: 0, sequence: 1, digest: new Uint8Array(32), replica: 1 }) as Draft;

test('signed messages leave in the order pushed, though signed out of order', async () => {
  const { outbound, sent, signing } = queue();
  outbound.push({ to: 'all', draft: vote('prepare') });
  outbound.push({ to: 'all', draft: vote('commit') });
  signing[1]!();
  await Promise.resolve();
  assert.deepEqual(sent, [], 'the COMMIT waits for the PREPARE before it');
  signing[0]!();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(sent, ['prepare->all', 'commit->all']);
});

test('a REQUEST is not signed and leaves at once, ahead of votes still being signed', async () => {
  const { outbound, sent, signing, idles } = queue();
  outbound.push({ to: 'all', draft: vote('prepare') });
  const request: Draft = {
    kind: 'request',
    replica: 1,
    hold: false,
    vertices: [createVertex(new Uint8Array([1]), { validThrough: TEST_VALID_THROUGH })],
  };
  outbound.push({ to: 0, draft: request });
  assert.deepEqual(sent, ['request->0']);
  assert.equal(signing.length, 1, 'only the PREPARE went to be signed');
  assert.equal(idles(), 0, 'not idle while the PREPARE waits');
  signing[0]!();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(sent, ['request->0', 'prepare->all']);
  assert.equal(idles(), 1);
  outbound.push({ to: 0, draft: request });
  assert.equal(idles(), 2, 'a REQUEST sent with nothing else waiting leaves the queue idle');
});
