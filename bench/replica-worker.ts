/**
 * One replica of the threaded cluster benchmark (`threaded-cluster.ts`), on its own worker
 * thread and event loop: a BftEngine with ML-DSA-87, a MemoryStore and a MessagePortTransport
 * to the other replicas. The parent tells it when to propose how many vertices; it reports
 * each proposal's latency from the moment the parent scheduled it (so a replica that falls
 * behind is charged for the wait, never hides it) and how many vertices it finalized inside
 * the measured window.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { mlDsa87 } from '../src/crypto/index.ts';
import { BftEngine } from '../src/engine/index.ts';
import { systemClock } from '../src/shell/clock.ts';
import { MemoryStore } from '../src/storage/index.ts';
import { MessagePortTransport } from '../src/transport/message-port.ts';
import { VERTEX_BYTES } from './sample-messages.ts';

export interface ReplicaWorkerData {
  readonly index: number;
  readonly ids: readonly string[];
  readonly seeds: readonly Uint8Array[];
  readonly ports: ReadonlyMap<string, MessagePort>;
  readonly clusterId: string;
}

/** Commands from the parent. Times are absolute: `performance.timeOrigin + performance.now()`. */
export type ReplicaCommand =
  | { readonly kind: 'start' }
  | { readonly kind: 'window'; readonly warmupEnd: number; readonly end: number }
  | { readonly kind: 'propose'; readonly count: number; readonly scheduledAt: number }
  | { readonly kind: 'keep-in-flight'; readonly inFlight: number; readonly until: number }
  /** Report 'drained' once every proposal made here has settled; the engine keeps running. */
  | { readonly kind: 'drain' }
  /** Stop the engine and report: sent once every replica has drained, so none leaves early. */
  | { readonly kind: 'finish' };

/** Reports to the parent. */
export type ReplicaReport =
  | { readonly kind: 'started' }
  | { readonly kind: 'drained' }
  | {
      readonly kind: 'finished';
      /** Latencies in microseconds of the proposals scheduled inside the window. */
      readonly latencies: Uint32Array;
      readonly finalizedInWindow: number;
      readonly issued: number;
      readonly rejected: number;
    };

const data = workerData as ReplicaWorkerData;
const port = parentPort!;
const now = (): number => performance.timeOrigin + performance.now();

const keys = data.seeds.map((seed) => mlDsa87.keyPairFromSeed(seed));
const engine = new BftEngine(
  { nodeId: data.ids[data.index]!, validators: data.ids, clusterId: data.clusterId },
  keys[data.index]!,
  {
    transport: new MessagePortTransport({ nodeId: data.ids[data.index]!, ports: data.ports }),
    store: new MemoryStore(),
    scheme: mlDsa87,
    clock: systemClock,
  },
);
for (const [j, id] of data.ids.entries()) {
  if (j !== data.index) engine.registerNodePublicKey(id, keys[j]!.publicKey);
}

let window = { warmupEnd: Number.POSITIVE_INFINITY, end: Number.POSITIVE_INFINITY };
let finalizedInWindow = 0;
engine.on('finalized', () => {
  const t = now();
  if (t >= window.warmupEnd && t < window.end) finalizedInWindow++;
});

const latencies: number[] = [];
let issued = 0;
let rejected = 0;
let outstanding = 0;
let counter = 0;
let onDrained: (() => void) | null = null;

function vertex() {
  const body = new Uint8Array(VERTEX_BYTES);
  const view = new DataView(body.buffer);
  view.setUint32(0, data.index);
  view.setUint32(4, counter++);
  view.setFloat64(8, now());
  return engine.createVertex(body);
}

function proposeOne(scheduledAt: number, then?: () => void): void {
  issued++;
  outstanding++;
  engine.propose(vertex()).then(
    () => {
      if (scheduledAt >= window.warmupEnd && scheduledAt < window.end) {
        latencies.push(Math.max(1, Math.round((now() - scheduledAt) * 1000)));
      }
      settled(then);
    },
    () => {
      rejected++;
      settled(then);
    },
  );
}

function settled(then?: () => void): void {
  outstanding--;
  then?.();
  if (outstanding === 0 && onDrained !== null) onDrained();
}

/** Closed loop: keeps `inFlight` proposals outstanding from this replica until `until`. */
function keepInFlight(inFlight: number, until: number): void {
  const refill = (): void => {
    if (now() >= until) return;
    proposeOne(now(), refill);
  };
  for (let i = 0; i < inFlight; i++) refill();
}

async function drain(): Promise<void> {
  if (outstanding > 0) await new Promise<void>((resolve) => (onDrained = resolve));
  port.postMessage({ kind: 'drained' } satisfies ReplicaReport);
}

async function finish(): Promise<void> {
  // A replica that stopped while others still had proposals in flight would take the quorum
  // away from them: the parent sends 'finish' only after every replica has drained.
  await engine.stop({ drainTimeoutMs: 0 });
  const report: ReplicaReport = {
    kind: 'finished',
    latencies: Uint32Array.from(latencies),
    finalizedInWindow,
    issued,
    rejected,
  };
  port.postMessage(report);
}

port.on('message', (command: ReplicaCommand) => {
  switch (command.kind) {
    case 'start':
      void engine.start().then(() => port.postMessage({ kind: 'started' } satisfies ReplicaReport));
      break;
    case 'window':
      window = { warmupEnd: command.warmupEnd, end: command.end };
      break;
    case 'propose':
      for (let i = 0; i < command.count; i++) proposeOne(command.scheduledAt);
      break;
    case 'keep-in-flight':
      keepInFlight(command.inFlight, command.until);
      break;
    case 'drain':
      void drain();
      break;
    case 'finish':
      void finish();
      break;
  }
});
