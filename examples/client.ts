// A client of a running cluster: submit a few vertices, follow the finalized stream until all
// of them are in it, then prove one final with its commit certificate. In one terminal start a
// cluster, in another run this with its cluster file:
//   npx cretoai-node up --dir ./local
//   npx node examples/client.ts ./local/cluster.json
// (an application imports 'cretoai-consensus/client' instead).
import { BftClient, loadClusterFile } from '../src/client/index.ts';

const file = process.argv[2];
if (file === undefined) {
  console.error('usage: node examples/client.ts <cluster.json>');
  process.exit(2);
}
const client = BftClient.fromClusterFile(loadClusterFile(file));
// Follow from the next sequence on, so that none of ours can be final before the stream starts.
const from = (await client.status()).sequence + 1;

const waiting = new Set<string>();
for (let i = 0; i < 5; i++) {
  const { hash, acceptedBy } = await client.submit({ payload: new TextEncoder().encode(`hello ${i}`) });
  waiting.add(hash);
  console.log(`submitted ${hash.slice(0, 16)}, accepted by ${acceptedBy.join(', ')}`);
}
const first = [...waiting][0]!;

// Reconnects (to the next node if need be) and resumes by itself; give up after 30 s.
for await (const vertex of client.finalized({ from, signal: AbortSignal.timeout(30_000) })) {
  if (!waiting.delete(vertex.hash)) continue; // someone else's vertex
  console.log(
    `${vertex.hash.slice(0, 16)} is final at sequence ${vertex.sequence}, position ${vertex.position}`,
  );
  if (waiting.size === 0) break;
}
if (waiting.size > 0) throw new Error(`${waiting.size} vertices were not final within 30 s`);

// The stream is one node's word; a commit certificate checked against the keys is proof.
const final = await client.waitFinal(first, { proof: 'certificate' });
console.log(
  `${first.slice(0, 16)}: the certificate from ${final.nodes[0]} checks out (sequence ${final.sequence})`,
);
