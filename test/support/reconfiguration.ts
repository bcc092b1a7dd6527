/**
 * Reconfiguration requests for protocol tests: `reconfigure:<from>:<nodes>[label]`, and a reader
 * the core can be given. A real reader checks operator signatures (src/reconfig/reader.ts); the
 * core only needs a deterministic answer.
 */
import type { KeyPair, SignatureScheme } from '../../src/crypto/index.ts';
import type { EngineReconfiguration } from '../../src/engine/index.ts';
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

/*
 * For engine tests: `testRequest` members may carry a key generation, `node-2#1` (node-2 under
 * its first rotated key), which `testEngineReconfiguration` reads. Keys are those of
 * `testKeyPair`; generation 0 is the key the engine test cluster gives `node-i`.
 */

/** The key pair of test node `node-i` in key generation `generation`. */
export function testKeyPair(scheme: SignatureScheme, node: string, generation = 0): KeyPair {
  const seed = new Uint8Array(scheme.seedBytes);
  seed[0] = Number(node.slice(node.lastIndexOf('-') + 1)) + 1;
  seed[1] = generation;
  return scheme.keyPairFromSeed(seed);
}

function parseMembers(text: string): { from: number; members: string[] } | null {
  if (!text.startsWith(PREFIX)) return null;
  const [from, members] = text.slice(PREFIX.length).split(':');
  if (members === undefined) return null;
  return { from: Number(from), members: members.split(',') };
}

/** An engine's reconfiguration for {@link testMembersRequest} requests, holding `keyPairs` besides its own. */
export function testEngineReconfiguration(
  scheme: SignatureScheme,
  keyPairs: readonly KeyPair[] = [],
  options: NextEpoch['options'] = {},
): EngineReconfiguration {
  const nodeOf = (member: string): string => member.split('#')[0]!;
  return {
    reader: (payload, current) => {
      const request = parseMembers(new TextDecoder().decode(payload));
      if (request === null || request.from !== current.number) return null;
      return { nodes: request.members.map(nodeOf), options };
    },
    membersOf: (record) => {
      const request = parseMembers(new TextDecoder().decode(record.opening));
      if (request === null) return null;
      return {
        nodes: request.members.map(nodeOf),
        publicKeys: request.members.map((member) => {
          const [node, generation] = member.split('#');
          return testKeyPair(scheme, node!, Number(generation ?? 0)).publicKey.raw;
        }),
      };
    },
    keyPairs,
  };
}
