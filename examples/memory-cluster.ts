// Four engines in one process over the in-memory network: propose a few vertices, print where
// each became final, check that every replica finalized the same order, stop. Run it with
// `npx node examples/memory-cluster.ts` (an application imports 'cretoai-consensus' instead).
import { createLocalCluster } from '../src/index.ts';

const cluster = await createLocalCluster({ nodes: 4, transport: 'memory', store: 'memory' });
try {
  const engine = cluster.engine('node-0');
  for (let i = 0; i < 5; i++) {
    const vertex = engine.createVertex(new TextEncoder().encode(`vertex ${i}`));
    const { sequence, position } = await engine.propose(vertex); // resolves once final here
    console.log(`vertex ${i} is final at sequence ${sequence}, position ${position}`);
  }
  for (const replica of cluster.engines) {
    const places: string[] = [];
    // From sequence 1: what this replica's store holds, then live; stop reading after five.
    for await (const final of replica.finalized({ from: 1 })) {
      places.push(`${final.sequence}.${final.position}`);
      if (places.length === 5) break;
    }
    console.log(`${replica.config.nodeId} finalized ${places.join(' ')}`);
  }
} finally {
  await cluster.stop(); // graceful: what was accepted is finalized first
}
