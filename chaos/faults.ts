/**
 * Carries out the faults the schedule draws, on the node processes (SIGKILL, SIGSTOP and
 * SIGCONT by process id, `wipeNode`, restarts) and on the links (through the proxies), and
 * records each as it happened, with every process mark for the timelines.
 */
import type http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { wipeNode } from '../src/cli/admin.ts';
import type { LocalCluster } from '../src/cli/local-cluster.ts';
import { loadNodeSettings } from '../src/node/config.ts';
import type { FaultKind } from './options.ts';
import type { LinkProxy } from './proxy.ts';
import { fetchStatus } from './sampler.ts';
import type { NetworkFaultSpec, ProcessFaultSpec } from './schedule.ts';
import type { ProcessMark } from './timeline.ts';

/** A fault as it happened. */
export interface FaultRecord {
  readonly kind: FaultKind;
  /** Run time (ms) it was injected. */
  readonly startMs: number;
  /** Run time (ms) it was over: nodes back and caught up, or the link fault lifted. */
  endMs: number;
  /** The nodes it acted on (none for a link fault, which acts on every link). */
  readonly nodes: readonly number[];
  /** Its seeded figures and what happened, for the log. */
  detail: string;
  /** Why it was not injected, if it was not. */
  skipped: string | null;
}

/** How long a restarted node may take to catch up before the lane moves on anyway. */
const CATCH_UP_TIMEOUT_MS = 30_000;
/** Attempts to start a node before the run gives up. */
const START_ATTEMPTS = 3;

export class FaultInjector {
  readonly records: FaultRecord[] = [];
  readonly marks: ProcessMark[] = [];
  /** Nodes stopped with SIGSTOP and not yet continued. */
  readonly stopped = new Set<number>();
  /** Exits the harness caused, so that any other exit is reported as the node's own. */
  readonly #expectedExits = new Set<number>();
  readonly #cluster: LocalCluster;
  readonly #proxies: readonly LinkProxy[] | null;
  readonly #agent: http.Agent;
  readonly #now: () => number;
  readonly #log: (line: string) => void;
  readonly #stamp: () => string;
  readonly #signal: AbortSignal;
  /** Nodes being restarted after an exit of their own. */
  readonly #restarting = new Set<Promise<void>>();
  #closing = false;
  /** Exits nobody asked for: a node that crashed on its own. */
  readonly unexpectedExits: { node: number; atMs: number; code: number | null; signal: string | null }[] = [];

  constructor(options: {
    readonly cluster: LocalCluster;
    readonly proxies: readonly LinkProxy[] | null;
    readonly agent: http.Agent;
    readonly now: () => number;
    readonly log: (line: string) => void;
    /** The time to print at the start of a log line. */
    readonly stamp: () => string;
    readonly signal: AbortSignal;
  }) {
    this.#cluster = options.cluster;
    this.#proxies = options.proxies;
    this.#agent = options.agent;
    this.#now = options.now;
    this.#log = options.log;
    this.#stamp = options.stamp;
    this.#signal = options.signal;
    this.#cluster.on('exit', ({ index, code, signal }) => {
      if (this.#expectedExits.delete(index) || this.#closing) return;
      // The node died on its own: a crash worth reporting. Bring it back so the run goes on.
      this.unexpectedExits.push({ node: index, atMs: this.#now(), code, signal });
      this.#mark(index, 'exited');
      this.#log(
        `${this.#at()} node-${index} exited on its own (${signal ?? `status ${code}`}); restarting it`,
      );
      const restart = sleep(1000, undefined, { signal: this.#signal })
        .then(() => (this.#closing ? undefined : this.#start(index)))
        .catch(() => undefined);
      this.#restarting.add(restart);
      void restart.finally(() => this.#restarting.delete(restart));
    });
  }

  /** From now on exits are expected (the run is ending). */
  closing(): void {
    this.#closing = true;
  }

  /** Injects one process fault and waits until it is over. */
  async runProcess(spec: ProcessFaultSpec): Promise<FaultRecord> {
    switch (spec.kind) {
      case 'kill':
        return this.#downAndBack(spec.kind, [spec.victim], spec.downMs, false);
      case 'two-down':
        return this.#downAndBack(spec.kind, [...spec.victims], spec.downMs, false);
      case 'kill-leader': {
        const leader = await this.findLeader();
        if (leader === null) return this.#skip(spec.kind, 'no live node named a leader');
        return this.#downAndBack(spec.kind, [leader], spec.downMs, false);
      }
      case 'wipe': {
        const leader = await this.findLeader();
        if (leader === null) return this.#skip(spec.kind, 'no live node named a leader');
        const backups = Array.from({ length: this.#cluster.size }, (_, i) => i).filter((i) => i !== leader);
        return this.#downAndBack(
          spec.kind,
          [backups[spec.backupChoice % backups.length]!],
          spec.downMs,
          true,
        );
      }
      case 'stop-leader': {
        const leader = await this.findLeader();
        if (leader === null) return this.#skip(spec.kind, 'no live node named a leader');
        return this.#pause(leader, spec.pauseMs);
      }
    }
  }

  /** Applies one link fault to every proxy for its window. */
  async runNetwork(spec: NetworkFaultSpec): Promise<FaultRecord> {
    const proxies = this.#proxies;
    if (proxies === null) return this.#skip(spec.kind, 'the run has no proxies');
    const record = this.#record(spec.kind, []);
    if (spec.kind === 'delay') {
      record.detail = `${spec.baseDelayMs.map((ms, i) => `node-${i} +${ms}`).join(' ')} ms (jitter ${spec.jitterMs}) for ${spec.windowMs} ms`;
      this.#log(`${this.#at()} delay: ${record.detail}`);
      for (const [i, proxy] of proxies.entries()) proxy.setDelay(spec.baseDelayMs[i]!, spec.jitterMs);
      try {
        await sleep(spec.windowMs, undefined, { signal: this.#signal });
      } finally {
        for (const proxy of proxies) proxy.setDelay(0, 0);
      }
    } else {
      const resetsBefore = proxies.reduce((sum, proxy) => sum + proxy.stats.resets, 0);
      for (const proxy of proxies) proxy.setLoss(spec.resetsPerSecond);
      this.#log(
        `${this.#at()} loss: every connection reset ${spec.resetsPerSecond}/s for ${spec.windowMs} ms`,
      );
      try {
        await sleep(spec.windowMs, undefined, { signal: this.#signal });
      } finally {
        for (const proxy of proxies) proxy.setLoss(0);
      }
      const resets = proxies.reduce((sum, proxy) => sum + proxy.stats.resets, 0) - resetsBefore;
      record.detail = `${spec.resetsPerSecond}/s per connection for ${spec.windowMs} ms: ${resets} resets`;
    }
    record.endMs = this.#now();
    this.#log(`${this.#at()} ${spec.kind} lifted`);
    return record;
  }

  /** The leader as the first live node that answers names it; null when none answers. */
  async findLeader(): Promise<number | null> {
    const ids = this.#cluster.cluster.validators.map((validator) => validator.nodeId);
    for (let i = 0; i < this.#cluster.size; i++) {
      if (!this.#cluster.isRunning(i) || this.stopped.has(i)) continue;
      const status = await fetchStatus(this.#agent, this.#cluster.apiUrls[i]!);
      if (status === null) continue;
      const leader = ids.indexOf(status.leader);
      if (leader >= 0) return leader;
    }
    return null;
  }

  /** Continues every stopped node and starts every node that is down; waits for restarts under way. */
  async restoreAll(): Promise<void> {
    for (const node of [...this.stopped]) this.#continue(node);
    await Promise.allSettled([...this.#restarting]);
    for (let i = 0; i < this.#cluster.size; i++) if (!this.#cluster.isRunning(i)) await this.#start(i);
  }

  /** Continues stopped nodes at once, so that a SIGTERM or SIGKILL that follows is acted on. */
  continueAll(): void {
    for (const node of [...this.stopped]) this.#continue(node);
  }

  async #downAndBack(
    kind: FaultKind,
    victims: readonly number[],
    downMs: number,
    wipe: boolean,
  ): Promise<FaultRecord> {
    const record = this.#record(kind, victims);
    const names = victims.map((i) => `node-${i}`).join(' and ');
    for (const node of victims) await this.#kill(node);
    if (wipe) {
      for (const node of victims) {
        // Moved aside rather than deleted, so that a kept directory still holds it.
        wipeNode(loadNodeSettings(this.#cluster.configFile(node)));
        this.#mark(node, 'wiped');
      }
    }
    this.#log(`${this.#at()} ${kind}: ${names} SIGKILLed${wipe ? ' and wiped' : ''}, back in ${downMs} ms`);
    await sleep(downMs, undefined, { signal: this.#signal });
    const target = await this.#clusterDurable(victims);
    // Together, so that the second of two is not down for the first's start-up too.
    await Promise.all(victims.map((node) => this.#start(node)));
    const caughtUp = await this.#catchUp(victims, target);
    record.endMs = this.#now();
    record.detail = `${names} down ${downMs} ms${wipe ? ', wiped' : ''}; ${caughtUp}`;
    this.#log(`${this.#at()} ${kind} over: ${record.detail}`);
    return record;
  }

  async #pause(node: number, pauseMs: number): Promise<FaultRecord> {
    const pid = this.#cluster.pid(node);
    if (pid === null) return this.#skip('stop-leader', `node-${node} is not running`);
    const record = this.#record('stop-leader', [node]);
    process.kill(pid, 'SIGSTOP');
    this.stopped.add(node);
    this.#mark(node, 'stopped');
    this.#log(`${this.#at()} stop-leader: node-${node} SIGSTOPped for ${pauseMs} ms`);
    await sleep(pauseMs, undefined, { signal: this.#signal });
    const target = await this.#clusterDurable([node]);
    this.#continue(node);
    const caughtUp = await this.#catchUp([node], target);
    record.endMs = this.#now();
    record.detail = `node-${node} stopped ${pauseMs} ms; ${caughtUp}`;
    this.#log(`${this.#at()} stop-leader over: ${record.detail}`);
    return record;
  }

  #continue(node: number): void {
    const pid = this.#cluster.pid(node);
    if (pid !== null) process.kill(pid, 'SIGCONT');
    if (this.stopped.delete(node)) this.#mark(node, 'continued');
  }

  async #kill(node: number): Promise<void> {
    if (!this.#cluster.isRunning(node)) return;
    this.#expectedExits.add(node);
    await this.#cluster.kill(node, 'SIGKILL');
    this.#mark(node, 'down');
  }

  async #start(node: number): Promise<void> {
    if (this.#cluster.isRunning(node)) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#cluster.start(node);
        this.#mark(node, 'up');
        return;
      } catch (error) {
        if (attempt >= START_ATTEMPTS || this.#signal.aborted) throw error;
        this.#log(`${this.#at()} node-${node} failed to start (${(error as Error).message}); trying again`);
        await sleep(1000, undefined, { signal: this.#signal });
      }
    }
  }

  /** The highest durable sequence among the nodes not in `except`, as they answer now. */
  async #clusterDurable(except: readonly number[]): Promise<number> {
    let highest = 0;
    for (let i = 0; i < this.#cluster.size; i++) {
      if (except.includes(i) || !this.#cluster.isRunning(i) || this.stopped.has(i)) continue;
      const status = await fetchStatus(this.#agent, this.#cluster.apiUrls[i]!);
      if (status !== null) highest = Math.max(highest, status.durableSequence);
    }
    return highest;
  }

  /** Waits until each node has durably finalized `target`; says how long that took. */
  async #catchUp(nodes: readonly number[], target: number): Promise<string> {
    const started = this.#now();
    const waiting = new Set(nodes);
    while (waiting.size > 0) {
      for (const node of [...waiting]) {
        const status = await fetchStatus(this.#agent, this.#cluster.apiUrls[node]!);
        if (status !== null && status.durableSequence >= target) waiting.delete(node);
      }
      if (waiting.size === 0) break;
      if (this.#now() - started > CATCH_UP_TIMEOUT_MS) {
        return `NOT caught up to sequence ${target} within ${CATCH_UP_TIMEOUT_MS} ms`;
      }
      await sleep(100, undefined, { signal: this.#signal });
    }
    return `caught up to sequence ${target} in ${(this.#now() - started).toFixed(0)} ms`;
  }

  #record(kind: FaultKind, nodes: readonly number[]): FaultRecord {
    const record: FaultRecord = {
      kind,
      startMs: this.#now(),
      endMs: this.#now(),
      nodes,
      detail: '',
      skipped: null,
    };
    this.records.push(record);
    return record;
  }

  #skip(kind: FaultKind, reason: string): FaultRecord {
    const record = this.#record(kind, []);
    record.skipped = reason;
    this.#log(`${this.#at()} ${kind} skipped: ${reason}`);
    return record;
  }

  #mark(node: number, what: ProcessMark['what']): void {
    this.marks.push({ node, atMs: this.#now(), what });
  }

  #at(): string {
    return this.#stamp();
  }
}
