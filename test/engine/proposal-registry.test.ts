/**
 * The proposal registry's waiters on their own: who is told that a proposal is held durably,
 * when, and in which order against its end; and an accepted list's answer per vertex.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProposalRejectedError } from '../../src/engine/errors.ts';
import { AcceptedList, ProposalRegistry, type ProposalWaiter } from '../../src/engine/proposals.ts';
import { createVertex, vertexKey } from '../../src/protocol/index.ts';

const vertices = [0, 1, 2].map((i) => createVertex(new Uint8Array([i]), { validThrough: 100 }));
const keys = vertices.map(vertexKey);
const result = (i: number) => ({ hash: vertices[i]!.hash, sequence: 7, position: i });

/** A waiter that writes down what it is told. */
function recorder(events: string[], name: string): ProposalWaiter {
  return {
    acknowledged: () => events.push(`${name} held`),
    resolve: (done) => events.push(`${name} final ${done.position}`),
    reject: (error) => events.push(`${name} ${error.code}`),
  };
}

test('a waiter hears once that its proposal is held, before its end, and at once if it joins late', () => {
  const registry = new ProposalRegistry(10);
  const events: string[] = [];
  assert.equal(registry.add(keys[0]!, vertices[0]!, 0, recorder(events, 'a')), true);
  registry.acknowledge(keys[0]!);
  registry.acknowledge(keys[0]!);
  assert.equal(registry.add(keys[0]!, vertices[0]!, 1, recorder(events, 'b')), false);
  // A waiter without `acknowledged` (propose) hears only the end.
  registry.add(keys[0]!, vertices[0]!, 2, { resolve: () => events.push('c final'), reject: () => {} });
  registry.resolve(keys[0]!, result(0));
  assert.deepEqual(events, ['a held', 'b held', 'a final 0', 'b final 0', 'c final']);

  // Final without an acknowledgment first: final is durable, so held comes first.
  events.length = 0;
  registry.add(keys[1]!, vertices[1]!, 3, recorder(events, 'd'));
  registry.resolve(keys[1]!, result(1));
  assert.deepEqual(events, ['d held', 'd final 1']);

  // Given up on before it was held: only the refusal.
  events.length = 0;
  registry.add(keys[2]!, vertices[2]!, 4, recorder(events, 'e'));
  registry.reject(keys[2]!, new ProposalRejectedError('expired', 'gone'));
  assert.deepEqual(events, ['e expired']);
  assert.equal(registry.size, 0);
});

test('an accepted list answers once every vertex is held or refused, and reports give-ups after', async () => {
  const registry = new ProposalRegistry(10);
  const givenUp: string[] = [];
  const list = new AcceptedList(vertices, (vertex, error) =>
    givenUp.push(`${vertexKey(vertex)} ${error.code}`),
  );
  let answer: (ProposalRejectedError | null)[] | null = null;
  // Vertex 0 is held later, vertex 1 refused by the engine up front, vertex 2 refused after.
  registry.add(keys[0]!, vertices[0]!, 0, list.waiter(0));
  list.refuse(1, new ProposalRejectedError('oversized', 'too big'));
  registry.add(keys[2]!, vertices[2]!, 0, list.waiter(2));
  void list.settled().then((outcomes) => {
    answer = outcomes;
  });
  await Promise.resolve();
  assert.equal(answer, null, 'answered before vertex 0 was held');
  registry.reject(keys[2]!, new ProposalRejectedError('full', 'full'));
  registry.acknowledge(keys[0]!);
  await Promise.resolve();
  assert.deepEqual(
    answer!.map((outcome) => outcome?.code ?? null),
    [null, 'oversized', 'full'],
  );
  assert.deepEqual(givenUp, [], 'nothing held was given up on yet');
  // Held, then given up on: reported, and the answer stands.
  registry.reject(keys[0]!, new ProposalRejectedError('stopped', 'stopped'));
  assert.deepEqual(givenUp, [`${keys[0]} stopped`]);
});

test('an accepted list with nothing left to wait for answers at once', async () => {
  const list = new AcceptedList(vertices.slice(0, 1), undefined);
  assert.deepEqual(await list.settled(), [null]);
});
