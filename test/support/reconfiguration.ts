/**
 * Reconfiguration requests for protocol tests: `reconfigure:<from>:<nodes>[label]`, and a reader
 * the core can be given. A real reader checks operator signatures (src/reconfig/reader.ts); the
 * core only needs a deterministic answer.
 */
import { createVertex, type NextEpoch, type RequestReader, type Vertex } from '../../src/protocol/index.ts';
import { TEST_VALID_THROUGH } from './vertex.ts';

const PREFIX = 'reconfigure:';

/** A reader of test requests whose next epochs take `options` as their figures. */
export function testReader(options: NextEpoch['options'] = {}): RequestReader {
  return (payload, current) => {
    const text = new TextDecoder().decode(payload);
    if (!text.startsWith(PREFIX)) return null;
    const [from, nodes] = text.slice(PREFIX.length).split(':');
    if (Number(from) !== current.number || nodes === undefined) return null;
    return { nodes: nodes.split(','), options };
  };
}

/** The test request from epoch `from` to `nodes`; `label` (starting with ':') tells copies apart. */
export function testRequest(from: number, nodes: readonly string[], label = ''): Vertex {
  const payload = new TextEncoder().encode(`${PREFIX}${from}:${nodes.join(',')}${label}`);
  return createVertex(payload, { validThrough: TEST_VALID_THROUGH });
}
