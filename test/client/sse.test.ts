/**
 * The server-sent events parser against the rules of the WHATWG HTML standard, section 9.2.6
 * ("Interpreting an event stream"), whatever the sizes of the chunks the text arrives in.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { type SseEvent, SseParseError, SseParser } from '../../src/client/sse.ts';

function parseAll(text: string): { events: SseEvent[]; parser: SseParser } {
  const parser = new SseParser();
  return { events: parser.push(text), parser };
}

describe('SseParser (HTML 9.2.6)', () => {
  test('fields, types, multi-line data, comments and the default type', () => {
    const { events } = parseAll(
      ': a comment\n' +
        'retry: 1000\n' +
        'id: 3.1\nevent: finalized\ndata: {"a":1}\n\n' +
        'data: first\ndata: second\n\n' +
        'data:no space\ndata:  two spaces\n\n',
    );
    assert.deepEqual(events, [
      { type: 'finalized', data: '{"a":1}', lastEventId: '3.1' },
      { type: 'message', data: 'first\nsecond', lastEventId: '3.1' },
      { type: 'message', data: 'no space\n two spaces', lastEventId: '3.1' },
    ]);
  });

  test('CRLF, CR and LF all end lines, also when a CRLF is split across chunks', () => {
    const parser = new SseParser();
    const events = [
      ...parser.push('data: a\r'),
      ...parser.push('\n\r\ndata: b\r\r'),
      ...parser.push('data: c\n\n'),
    ];
    assert.deepEqual(
      events.map((event) => event.data),
      ['a', 'b', 'c'],
    );
  });

  test('an event without data is not dispatched, but its id still becomes the last event id', () => {
    const { events, parser } = parseAll('id: 7.0\n\ndata: x\n\n');
    assert.deepEqual(events, [{ type: 'message', data: 'x', lastEventId: '7.0' }]);
    assert.equal(parser.lastEventId, '7.0');
    const empty = parseAll('data:\n\n').events;
    assert.deepEqual(empty, [{ type: 'message', data: '', lastEventId: '' }]);
  });

  test('an event cut off by the end of the stream is not counted, nor is its id', () => {
    const parser = new SseParser();
    assert.deepEqual(
      parser.push('id: 1.0\ndata: one\n\nid: 2.0\ndata: tw').map((event) => event.lastEventId),
      ['1.0'],
    );
    assert.equal(parser.lastEventId, '1.0');
  });

  test('an id holding NUL is ignored; an empty id resets the last event id', () => {
    const parser = new SseParser();
    parser.push('id: 5.0\ndata: a\n\nid: bad\0id\ndata: b\n\n');
    assert.equal(parser.lastEventId, '5.0');
    parser.push('id\ndata: c\n\n');
    assert.equal(parser.lastEventId, '');
  });

  test('retry takes digits only; unknown fields and a leading BOM are ignored', () => {
    const { events, parser } = parseAll('\ufeffretry: 25x\nretry: 2500\nfoo: bar\ndata: d\n\n');
    assert.equal(parser.retryMs, 2500);
    assert.deepEqual(events, [{ type: 'message', data: 'd', lastEventId: '' }]);
  });

  test('a line or data over the bound is an error, not unbounded memory', () => {
    const parser = new SseParser({ maxEventChars: 16 });
    assert.throws(() => parser.push(`data: ${'x'.repeat(32)}`), SseParseError);
    const lines = new SseParser({ maxEventChars: 16 });
    assert.throws(() => lines.push('data: 0123456789\ndata: 0123456789\n'), SseParseError);
  });

  test('any split of a stream into chunks gives the same events (property)', () => {
    const event = fc.record({
      id: fc.option(fc.stringMatching(/^[0-9]{1,4}\.[0-9]{1,3}$/), { nil: undefined }),
      type: fc.option(fc.constantFrom('finalized', 'error'), { nil: undefined }),
      data: fc.array(
        fc.string({ unit: 'grapheme-ascii' }).filter((s) => !/[\r\n]/.test(s)),
        {
          minLength: 1,
          maxLength: 3,
        },
      ),
      comment: fc.boolean(),
    });
    const lineEnd = fc.constantFrom('\n', '\r', '\r\n');
    fc.assert(
      fc.property(fc.array(fc.tuple(event, lineEnd), { maxLength: 8 }), fc.array(fc.nat()), (items, cuts) => {
        let text = '';
        for (const [item, end] of items) {
          if (item.comment) text += `: keep-alive${end}`;
          if (item.id !== undefined) text += `id: ${item.id}${end}`;
          if (item.type !== undefined) text += `event: ${item.type}${end}`;
          for (const line of item.data) text += `data: ${line}${end}`;
          text += end;
        }
        const whole = new SseParser().push(text);
        const parser = new SseParser();
        const pieces: SseEvent[] = [];
        let at = 0;
        for (const cut of cuts) {
          const next = Math.min(text.length, at + (cut % 7));
          pieces.push(...parser.push(text.slice(at, next)));
          at = next;
        }
        pieces.push(...parser.push(text.slice(at)));
        assert.deepEqual(pieces, whole);
        assert.equal(whole.length, items.length);
        for (const [i, [item]] of items.entries()) {
          assert.equal(whole[i]!.data, item.data.join('\n'));
          assert.equal(whole[i]!.type, item.type ?? 'message');
        }
      }),
      { seed: Number(process.env.SSE_TEST_SEED ?? 20_240_601), numRuns: 300 },
    );
  });
});
