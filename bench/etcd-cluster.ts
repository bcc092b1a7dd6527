/**
 * A local etcd cluster for `npm run bench:compare`: Debian's `etcd-server` installed when etcd
 * is missing, three members on loopback with etcd's durable defaults, and a put over etcd's v3
 * HTTP/JSON gateway (`POST /v3/kv/put`, key and value in base64) for the closed-loop runner.
 *
 * Only processes started here are ever signalled, each by its own process id.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { freePorts } from '../src/cli/init.ts';
import { base64 } from '../src/client/api.ts';
import type { PutFunction } from './closed-loop.ts';
import { postJson } from './http-json.ts';

/** The oldest etcd whose JSON gateway serves under `/v3/` (3.3 used `/v3beta/`). */
const ETCD_VERSION_MIN = [3, 4] as const;

/** The executable `name` on PATH, or null. */
export function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here: try the next directory.
    }
  }
  return null;
}

/**
 * Runs a command with its output on our stderr (stdout carries the results), or nowhere when
 * `quiet`; resolves with its exit status.
 */
function run(command: readonly string[], env: NodeJS.ProcessEnv, quiet = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const output = quiet ? 'ignore' : 2;
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', output, output], env });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

/**
 * The path of the `etcd` binary, installing Debian's `etcd-server` with apt-get first when
 * etcd is not on PATH. apt-get runs non-interactively (no standard input, as in CI); its
 * package lists are refreshed first when they know no `etcd-server`, and once more if the
 * install fails on stale lists.
 *
 * @throws Error when etcd is missing and cannot be installed here.
 */
export async function ensureEtcd(log: (line: string) => void): Promise<string> {
  const found = onPath('etcd');
  if (found !== null) return found;
  if (process.platform !== 'linux' || onPath('apt-get') === null) {
    throw new Error(
      'etcd is not on PATH, and without apt-get it cannot be installed here: install etcd 3.4 or later and run again',
    );
  }
  // Root installs directly (CI runs as root); anyone else through sudo, which must not prompt.
  const sudo = process.getuid?.() === 0 ? [] : ['sudo', '-n'];
  if (sudo.length > 0 && onPath('sudo') === null)
    throw new Error(
      "etcd is not on PATH, and installing it needs root: run as root, or install Debian's etcd-server",
    );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = [...sudo, 'apt-get', 'update', '-q'];
  const install = [...sudo, 'apt-get', 'install', '-y', '-q', '--no-install-recommends', 'etcd-server'];
  log("etcd is not on PATH: installing Debian's etcd-server package with apt-get (a system-wide change;");
  log('  apt-get remove etcd-server undoes it). On a machine run by systemd, the package also starts an');
  log('  etcd service of its own on ports 2379/2380: this benchmark leaves it alone and uses other ports.');
  let updated = false;
  if ((await run(['apt-cache', 'show', 'etcd-server'], env, true).catch(() => 1)) !== 0) {
    log(`the package lists know no etcd-server: ${update.join(' ')}`);
    if ((await run(update, env)) !== 0) throw new Error(`${update.join(' ')} failed`);
    updated = true;
  }
  log(install.join(' '));
  if ((await run(install, env)) !== 0) {
    if (updated) throw new Error(`${install.join(' ')} failed`);
    log(`the install failed; refreshing the package lists and trying once more: ${update.join(' ')}`);
    if ((await run(update, env)) !== 0 || (await run(install, env)) !== 0)
      throw new Error(`${install.join(' ')} failed`);
  }
  const installed = onPath('etcd') ?? (fs.existsSync('/usr/bin/etcd') ? '/usr/bin/etcd' : null);
  if (installed === null) throw new Error('etcd-server installed, but no etcd binary is on PATH');
  log(`installed ${installed}`);
  return installed;
}

/**
 * etcd's version, from `etcd --version`.
 *
 * @throws Error when it is older than the JSON gateway this benchmark speaks.
 */
export async function etcdVersion(binary: string): Promise<string> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(binary, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', () => resolve(text));
  });
  const version = /etcd Version:\s*(\d+)\.(\d+)\.(\S+)/.exec(output);
  if (version === null) throw new Error(`${binary} --version printed no version: ${output.trim()}`);
  const [major, minor] = [Number(version[1]), Number(version[2])];
  if (major < ETCD_VERSION_MIN[0] || (major === ETCD_VERSION_MIN[0] && minor < ETCD_VERSION_MIN[1]))
    throw new Error(`etcd ${major}.${minor} is too old: its JSON gateway is not under /v3/ before 3.4`);
  return `${version[1]}.${version[2]}.${version[3]}`;
}

interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly logFile: string;
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  running: boolean;
}

/** Options of {@link EtcdCluster.start}. */
export interface EtcdClusterOptions {
  readonly binary: string;
  /** Where the members' data and logs go; created if missing. */
  readonly dir: string;
  /** Default 3. */
  readonly members?: number;
  /** How long the cluster may take to elect a leader and serve. Default 30,000 ms. */
  readonly startTimeoutMs?: number;
}

/** Members of etcd started by this process, on loopback. */
export class EtcdCluster {
  readonly dir: string;
  readonly #members: readonly EtcdMember[];

  private constructor(dir: string, members: readonly EtcdMember[]) {
    this.dir = dir;
    this.#members = members;
  }

  /**
   * Starts the members and resolves once every one reports itself healthy (a leader is
   * elected and a quorum answers).
   *
   * Every setting is etcd's default but the names, addresses and data directories: in
   * particular the write-ahead log is synced before a put is answered. `ETCD_*` variables of
   * the environment are not passed on, since etcd reads its flags from them too.
   *
   * @throws Error, with the end of a member's log, when one exits or the cluster is not healthy in time.
   */
  static async start(options: EtcdClusterOptions): Promise<EtcdCluster> {
    const count = options.members ?? 3;
    const host = '127.0.0.1';
    fs.mkdirSync(path.join(options.dir, 'logs'), { recursive: true });
    const ports = await freePorts(2 * count, host);
    const names = Array.from({ length: count }, (_, i) => `etcd-${i}`);
    const peerUrls = names.map((_, i) => `http://${host}:${ports[count + i]}`);
    const initialCluster = names.map((name, i) => `${name}=${peerUrls[i]}`).join(',');
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('ETCD_')));
    const members = names.map((name, i): EtcdMember => {
      const clientUrl = `http://${host}:${ports[i]}`;
      const logFile = path.join(options.dir, 'logs', `${name}.log`);
      const log = fs.openSync(logFile, 'a');
      const child = spawn(
        options.binary,
        [
          `--name=${name}`,
          `--data-dir=${path.join(options.dir, name)}`,
          `--listen-client-urls=${clientUrl}`,
          `--advertise-client-urls=${clientUrl}`,
          `--listen-peer-urls=${peerUrls[i]}`,
          `--initial-advertise-peer-urls=${peerUrls[i]}`,
          `--initial-cluster=${initialCluster}`,
          `--initial-cluster-token=bench-compare-${process.pid}`,
          '--initial-cluster-state=new',
          '--logger=zap',
          '--log-outputs=stderr',
        ],
        { stdio: ['ignore', log, log], env },
      );
      fs.closeSync(log);
      const member: EtcdMember = {
        name,
        clientUrl,
        logFile,
        child,
        running: true,
        exited: new Promise<void>((resolve) => {
          child.on('exit', () => {
            member.running = false;
            resolve();
          });
          child.on('error', () => {
            member.running = false;
            resolve();
          });
        }),
      };
      return member;
    });
    const cluster = new EtcdCluster(options.dir, members);
    try {
      await cluster.#waitHealthy(options.startTimeoutMs ?? 30_000);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The members' client URLs. */
  get clientUrls(): readonly string[] {
    return this.#members.map((member) => member.clientUrl);
  }

  /** The members' process ids (of those running). */
  get pids(): readonly number[] {
    return this.#members.flatMap((member) =>
      member.running && member.child.pid !== undefined ? [member.child.pid] : [],
    );
  }

  /**
   * The client URL of the current leader: the member whose own id (`header.member_id` of
   * `POST /v3/maintenance/status`) is the leader it reports.
   *
   * @throws Error when no member names itself leader within `timeoutMs`.
   */
  async leaderUrl(timeoutMs = 10_000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (const member of this.#members) {
        const status = await statusOf(member.clientUrl).catch(() => null);
        if (status !== null && status.leader === status.memberId) return member.clientUrl;
      }
      if (performance.now() > deadline) throw new Error(`no etcd member was leader within ${timeoutMs} ms`);
      await pause(100);
    }
  }

  /** Stops every member: SIGTERM, then SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await Promise.all(
      this.#members.map(async (member) => {
        if (!member.running) return;
        member.child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), timeoutMs);
        });
        if ((await Promise.race([member.exited, late])) === 'late') {
          member.child.kill('SIGKILL');
          await member.exited;
        }
        clearTimeout(timer);
      }),
    );
  }

  /** SIGKILLs every member still running, at once: for a process that is exiting and cannot wait. */
  killNow(): void {
    for (const member of this.#members) if (member.running) member.child.kill('SIGKILL');
  }

  async #waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const exited = this.#members.find((member) => !member.running);
      if (exited !== undefined)
        throw new Error(`${exited.name} exited while starting${tail(exited.logFile)}`);
      const healthy = await Promise.all(this.#members.map((member) => isHealthy(member.clientUrl)));
      if (healthy.every(Boolean)) return;
      if (performance.now() > deadline) {
        const sick = this.#members.find((_, i) => !healthy[i])!;
        throw new Error(`etcd was not healthy within ${timeoutMs} ms${tail(sick.logFile)}`);
      }
      await pause(100);
    }
  }
}

/** Whether `GET /health` of a member says it is healthy (it has a leader and a quorum answers). */
async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { health?: unknown };
    return response.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/**
 * A member's own id and the leader's, from `POST /v3/maintenance/status`. The gateway writes
 * 64-bit ids as decimal strings, so they are compared as strings.
 */
async function statusOf(clientUrl: string): Promise<{ memberId: string; leader: string }> {
  const response = await fetch(`${clientUrl}/v3/maintenance/status`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(2000),
  });
  const body = (await response.json()) as { header?: { member_id?: unknown }; leader?: unknown };
  if (!response.ok || typeof body.header?.member_id !== 'string' || typeof body.leader !== 'string')
    throw new Error(`${clientUrl} gave no status: ${JSON.stringify(body)}`);
  return { memberId: body.header.member_id, leader: body.leader };
}

/** The last lines of a log, for error messages. */
function tail(file: string): string {
  try {
    const text = fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-5).join('\n  ');
    return text === '' ? '' : `; the end of ${file}:\n  ${text}`;
  } catch {
    return '';
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A put of `itemOf(client, request)` to the etcd member at `clientUrl`, done when etcd answers
 * 200: etcd answers a put once a majority has the entry in its synced log and the leader has
 * applied it.
 */
export function etcdPut(
  clientUrl: string,
  agent: http.Agent,
  itemOf: (client: number, request: number) => { readonly key: Uint8Array; readonly value: Uint8Array },
): PutFunction {
  const url = `${clientUrl}/v3/kv/put`;
  return async (client, request) => {
    const { key, value } = itemOf(client, request);
    const answer = await postJson(url, { key: base64(key), value: base64(value) }, agent);
    if (answer.status !== 200)
      throw new Error(`etcd answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  };
}
