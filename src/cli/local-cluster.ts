/**
 * A local cluster of node processes on one machine: what `cretoai-node up` and `bench` run, and
 * what the multi-process tests drive. Each node is a `cretoai-node start --config` child
 * process; its structured log (stderr) is appended to `<dir>/logs/<node>.log` and watched, so
 * that starting a node waits for its own 'node-started' line rather than polling.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClusterFile, loadClusterFile } from '../client/cluster-file.ts';
import { ArgumentError } from '../errors.ts';
import { CliError } from './errors.ts';

/** The CLI's entry file (the `.ts` source in a checkout, the `.js` build in the package). */
export function cliEntry(): string {
  const here = fileURLToPath(import.meta.url);
  return path.join(path.dirname(here), `main${path.extname(here)}`);
}

/** One line of a node's structured log. */
export type LogLine = Readonly<Record<string, unknown>> & { readonly event?: string };

/** The cluster's events. */
export interface LocalClusterEvents {
  /** A node wrote a log line. */
  log: [{ readonly index: number; readonly line: LogLine }];
  /** A node process ended (on its own, or killed). */
  exit: [{ readonly index: number; readonly code: number | null; readonly signal: NodeJS.Signals | null }];
}

interface Member {
  readonly nodeId: string;
  readonly configFile: string;
  readonly logFile: string;
  child: ChildProcess | null;
  exited: Promise<void> | null;
}

/** Options of {@link LocalCluster.open}. */
export interface LocalClusterOptions {
  /** How long a node may take to start. Default 60,000 ms. */
  readonly startTimeoutMs?: number;
  /** How long a node may take to stop on SIGTERM before it is killed. Default 30,000 ms. */
  readonly stopTimeoutMs?: number;
  /** Extra environment for the node processes. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Each node stops gracefully when this process dies, even by SIGKILL: its standard input is a
   * pipe from this process, and it stops when the pipe closes (`start --stop-on-stdin-close`).
   * Default false.
   */
  readonly stopWithParent?: boolean;
}

export class LocalCluster extends EventEmitter<LocalClusterEvents> {
  readonly dir: string;
  readonly clusterFile: string;
  readonly cluster: ClusterFile;
  readonly #members: Member[];
  readonly #options: LocalClusterOptions;

  private constructor(dir: string, cluster: ClusterFile, members: Member[], options: LocalClusterOptions) {
    super();
    this.dir = dir;
    this.clusterFile = path.join(dir, 'cluster.json');
    this.cluster = cluster;
    this.#members = members;
    this.#options = options;
  }

  /**
   * A cluster in a directory `init` wrote (cluster.json and `<node>.json` per validator).
   *
   * @throws CliError when the directory does not hold one.
   */
  static open(dir: string, options: LocalClusterOptions = {}): LocalCluster {
    const resolved = path.resolve(dir);
    const clusterFile = path.join(resolved, 'cluster.json');
    if (!fs.existsSync(clusterFile)) {
      throw new CliError(`${resolved} holds no cluster.json; create one with cretoai-node init --dir ${dir}`);
    }
    const cluster = loadClusterFile(clusterFile);
    fs.mkdirSync(path.join(resolved, 'logs'), { recursive: true });
    const members = cluster.validators.map((validator): Member => {
      const configFile = path.join(resolved, `${validator.nodeId}.json`);
      if (!fs.existsSync(configFile)) throw new CliError(`${resolved} has no configuration ${configFile}`);
      return {
        nodeId: validator.nodeId,
        configFile,
        logFile: path.join(resolved, 'logs', `${validator.nodeId}.log`),
        child: null,
        exited: null,
      };
    });
    return new LocalCluster(resolved, cluster, members, options);
  }

  get size(): number {
    return this.#members.length;
  }

  /** The nodes' API base URLs, in validator order. */
  get apiUrls(): readonly string[] {
    return this.cluster.validators.map((validator) => validator.api ?? '');
  }

  nodeId(index: number): string {
    return this.#member(index).nodeId;
  }

  configFile(index: number): string {
    return this.#member(index).configFile;
  }

  logFile(index: number): string {
    return this.#member(index).logFile;
  }

  /** The process id of node `index`, or null when it is not running. */
  pid(index: number): number | null {
    return this.#member(index).child?.pid ?? null;
  }

  isRunning(index: number): boolean {
    return this.#member(index).child !== null;
  }

  /** Starts every node that is not running and waits until each serves. */
  async startAll(): Promise<void> {
    await Promise.all(
      this.#members.map((_, index) => (this.isRunning(index) ? undefined : this.start(index))),
    );
  }

  /**
   * Starts node `index` and resolves once it logs 'node-started' (its HTTP API serves).
   *
   * @throws CliError with the end of its log when it exits or does not start in time.
   */
  start(index: number): Promise<void> {
    const member = this.#member(index);
    if (member.child !== null) return Promise.reject(new CliError(`${member.nodeId} is already running`));
    const log = fs.openSync(member.logFile, 'a');
    const stopWithParent = this.#options.stopWithParent === true;
    const args = [cliEntry(), 'start', '--config', member.configFile];
    if (stopWithParent) args.push('--stop-on-stdin-close');
    const child = spawn(process.execPath, args, {
      stdio: [stopWithParent ? 'pipe' : 'ignore', 'ignore', 'pipe'],
      env: { ...process.env, ...this.#options.env },
    });
    member.child = child;
    const { promise: started, resolve, reject } = Promise.withResolvers<void>();
    let isStarted = false;
    let pending = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      fs.writeSync(log, chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const text of lines) {
        if (text.length === 0) continue;
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          line = { event: 'output', text };
        }
        if (!isStarted && line.event === 'node-started') {
          isStarted = true;
          resolve();
        }
        this.emit('log', { index, line });
      }
    });
    const timeoutMs = this.#options.startTimeoutMs ?? 60_000;
    const timer = setTimeout(() => {
      if (!isStarted)
        reject(new CliError(`${member.nodeId} did not start within ${timeoutMs} ms${this.#tail(index)}`));
    }, timeoutMs);
    member.exited = new Promise<void>((done) => {
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        fs.closeSync(log);
        member.child = null;
        if (!isStarted) {
          reject(
            new CliError(
              `${member.nodeId} exited (${signal ?? `status ${code}`}) before it started${this.#tail(index)}`,
            ),
          );
        }
        this.emit('exit', { index, code, signal });
        done();
      });
    });
    return started.finally(() => clearTimeout(timer));
  }

  /** Sends `signal` to node `index` and waits until its process is gone. */
  async kill(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const member = this.#member(index);
    const child = member.child;
    if (child === null) return;
    const exited = member.exited!;
    child.kill(signal);
    await exited;
  }

  /** Stops node `index` with SIGTERM (graceful), or SIGKILL after the stop timeout. */
  async stop(index: number): Promise<void> {
    const member = this.#member(index);
    if (member.child === null) return;
    const exited = member.exited!;
    member.child.kill('SIGTERM');
    const timeoutMs = this.#options.stopTimeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), timeoutMs);
    });
    if ((await Promise.race([exited, late])) === 'late') await this.kill(index, 'SIGKILL');
    clearTimeout(timer);
  }

  /**
   * Sends SIGKILL to every running node at once, without waiting: for a process about to exit
   * that cannot wait for a graceful stop.
   */
  killAllNow(): void {
    for (const member of this.#members) member.child?.kill('SIGKILL');
  }

  /** Stops every running node. */
  async stopAll(): Promise<void> {
    await Promise.all(this.#members.map((_, index) => this.stop(index)));
  }

  /** The last lines of node `index`'s log, for error messages. */
  #tail(index: number): string {
    try {
      const text = fs
        .readFileSync(this.#member(index).logFile, 'utf8')
        .trimEnd()
        .split('\n')
        .slice(-5)
        .join('\n  ');
      return text.length === 0 ? '' : `; the end of its log:\n  ${text}`;
    } catch {
      return '';
    }
  }

  #member(index: number): Member {
    const member = this.#members[index];
    if (member === undefined)
      throw new ArgumentError(`no node ${index} in a cluster of ${this.#members.length}`);
    return member;
  }
}
