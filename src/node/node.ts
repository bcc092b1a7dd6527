/**
 * One node: the store, the transport, the engine and the HTTP API, started in that order and
 * stopped in the reverse one.
 *
 * Starting: the data directory is locked for this process (`data-lock.ts`), the LMDB store is
 * opened and checked (a damaged store is refused with a {@link StoreCorruptError} that says how
 * to recover; the node never signs from damaged state), the TCP transport authenticates every
 * peer with its ML-DSA-87 key, the engine restores the replica from the store, and the HTTP
 * server starts last, so that it never answers for an engine that is not running. The HTTP
 * server's connections are capped in total and per address, and its deadlines are set, by
 * `http-limits.ts`: it shares the process's file descriptors with the consensus transport.
 *
 * Stopping (`stop()`, on SIGTERM or SIGINT in `run.ts`): new submissions get 503 and new
 * connections are refused, event streams end, the engine finishes the vertices it accepted (up
 * to `shutdownDrainMs`), every write becomes durable, the transport closes, then the store.
 *
 * A halted engine (a failed write, a broken invariant) emits 'halted': the process should exit
 * and be restarted from its store.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Registry } from 'prom-client';
import { BftEngine } from '../engine/index.ts';
import { createTransportMetrics } from '../metrics/index.ts';
import { REPLICA_COUNT_MAX } from '../protocol/index.ts';
import { engineReconfiguration } from '../reconfig/engine-reconfiguration.ts';
import type { Clock } from '../shell/clock.ts';
import { StoreCorruptError } from '../storage/errors.ts';
import { LmdbStore } from '../storage/lmdb.ts';
import { markStoreDamaged, type StoreScrubber } from '../storage/scrub.ts';
import { ClusterDiscovery } from '../transport/discovery.ts';
import { QuicTransport } from '../transport/quic.ts';
import type { StreamTransport } from '../transport/stream-transport.ts';
import { TcpTransport } from '../transport/tcp.ts';
import type { Transport } from '../transport/transport.ts';
import { withReplicaCount } from '../wire/index.ts';
import type { NodeSettings } from './config.ts';
import { lockDataDir } from './data-lock.ts';
import { followEpochs } from './epoch-follower.ts';
import { EventHub } from './events.ts';
import { HttpApi } from './http-api.ts';
import { HttpLimits } from './http-limits.ts';
import { Logger } from './log.ts';
import { LogLimiter, type LogLimiterOptions } from './log-limiter.ts';
import { createHttpMetrics, createQuorumMetrics, registerScrubMetrics } from './node-metrics.ts';
import { describeQuorum, QuorumWatch } from './quorum-watch.ts';
import { TraceFile } from './trace-file.ts';
import { VoteLoggingTransport } from './vote-log.ts';

/** The node's events. */
export interface NodeEvents {
  /** The engine halted; the node stopped serving. Exit and restart the process. */
  halted: [Error];
}

export class CretoaiNode extends EventEmitter<NodeEvents> {
  readonly settings: NodeSettings;
  readonly engine: BftEngine;
  readonly store: LmdbStore;
  readonly transport: StreamTransport;
  readonly logger: Logger;
  /** The HTTP API's base URL (`http://127.0.0.1:8100`). */
  readonly httpUrl: string;
  /** The port consensus connections are accepted on. */
  readonly consensusPort: number;
  readonly #server: http.Server;
  readonly #api: HttpApi;
  readonly #httpLimits: HttpLimits;
  readonly #events: EventHub;
  readonly #voteLog: VoteLoggingTransport | null;
  readonly #traceFile: TraceFile | null;
  readonly #limitedLog: LogLimiter;
  /** Whether this node sees a quorum (status, readiness, metrics, logs). */
  readonly quorum: QuorumWatch;
  readonly #unlock: () => void;
  #stopping: Promise<void> | null = null;
  /** The background scrub of the store, once started (null when `scrub.enabled` is false). */
  scrubber: StoreScrubber | null = null;
  #damaged = false;

  private constructor(parts: {
    settings: NodeSettings;
    engine: BftEngine;
    store: LmdbStore;
    transport: StreamTransport;
    voteLog: VoteLoggingTransport | null;
    traceFile: TraceFile | null;
    limitedLog: LogLimiter;
    quorum: QuorumWatch;
    logger: Logger;
    server: http.Server;
    api: HttpApi;
    httpLimits: HttpLimits;
    events: EventHub;
    unlock: () => void;
    httpUrl: string;
    consensusPort: number;
  }) {
    super();
    this.settings = parts.settings;
    this.engine = parts.engine;
    this.store = parts.store;
    this.transport = parts.transport;
    this.#voteLog = parts.voteLog;
    this.#traceFile = parts.traceFile;
    this.#limitedLog = parts.limitedLog;
    this.quorum = parts.quorum;
    this.logger = parts.logger;
    this.#server = parts.server;
    this.#api = parts.api;
    this.#httpLimits = parts.httpLimits;
    this.#events = parts.events;
    this.#unlock = parts.unlock;
    this.httpUrl = parts.httpUrl;
    this.consensusPort = parts.consensusPort;
  }

  /**
   * Starts a node from loaded settings.
   *
   * @throws StoreCorruptError when the store is damaged or belongs to another node;
   *   DataDirInUseError when another process runs on the data directory; an error with code
   *   EADDRINUSE when a port is taken.
   */
  static async start(
    settings: NodeSettings,
    options: {
      readonly logger?: Logger;
      /**
       * How refused handshakes are logged: one line per interval and a summary (default 10 s,
       * on the system clock). Tests pass a ManualClock.
       */
      readonly limitedLog?: LogLimiterOptions;
      /** The clock of the quorum watch's debounce (default the system clock); for tests. */
      readonly clock?: Clock;
    } = {},
  ): Promise<CretoaiNode> {
    const logger =
      options.logger ?? new Logger(settings.nodeId, settings.logLevel, { format: settings.logFormat });
    const { nodeId, cluster, replica, resolved } = settings;
    logger.info('node-starting', {
      clusterId: cluster.clusterId,
      replica,
      validators: cluster.validators.length,
      dataDir: settings.dataDir,
      pid: process.pid,
    });
    const unlock = lockDataDir(settings.dataDir);
    const cleanups: (() => Promise<void> | void)[] = [unlock];
    const undo = async (): Promise<void> => {
      for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
    };
    try {
      const openedAt = performance.now();
      const store = await LmdbStore.open({ path: settings.dataDir, clusterId: cluster.clusterId, replica });
      cleanups.push(() => store.close());
      logger.info('store-opened', {
        lastFinalized: store.lastFinalized,
        openMs: Math.round(performance.now() - openedAt),
      });

      // A joiner also knows the validators of the epoch it joins, itself among them, from the start.
      const known = [...cluster.validators, ...(settings.joining?.members.validators ?? [])];
      const peers = new Map<string, string>();
      for (const validator of known)
        if (validator.nodeId !== nodeId && validator.address !== undefined)
          peers.set(validator.nodeId, validator.address);
      const discovery = new ClusterDiscovery(peers);
      const transportOptions = {
        nodeId,
        clusterId: cluster.clusterId,
        privateKey: settings.keys.privateKey,
        validators: new Map(known.map((validator) => [validator.nodeId, validator.publicKey])),
        discovery,
        listen: settings.transport.listen,
        maxFrameBytes: resolved.maxFrameBytes,
        ...definedOnly({
          sendQueueFramesMax: settings.transport.sendQueueFramesMax,
          sendQueueBytesMax: settings.transport.sendQueueBytesMax,
          reconnectMaxDelayMs: settings.transport.reconnectMaxDelayMs,
        }),
      };
      const transport: StreamTransport =
        settings.transport.protocol === 'quic'
          ? new QuicTransport(transportOptions)
          : new TcpTransport(transportOptions);
      cleanups.push(() => transport.stop());
      const consensusAddress = await transport.listen();
      const limitedLog = new LogLimiter((event, fields) => logger.warn(event, fields), options.limitedLog);
      cleanups.push(() => limitedLog.close());
      watchTransport(transport, logger, limitedLog);
      if (settings.voteLog !== null) fs.mkdirSync(path.dirname(settings.voteLog), { recursive: true });
      // Epochs after 0 are known once the engine has read the requests that opened them.
      const reconfiguration =
        cluster.operators === undefined
          ? null
          : engineReconfiguration(
              cluster,
              settings.nextKeys,
              settings.joining === null
                ? undefined
                : { epoch: settings.joining.epoch, opening: settings.joining.opening },
            );
      const ownId = (epoch: number): number | undefined => {
        const members = epoch === 0 ? cluster : reconfiguration?.epochMembers(epoch);
        const index = members?.validators.findIndex((validator) => validator.nodeId === nodeId) ?? -1;
        return index < 0 ? undefined : index;
      };
      const voteLog =
        settings.voteLog === null
          ? null
          : // Its own votes only, under its ids in every epoch: those grow with the validator set.
            new VoteLoggingTransport(
              transport,
              settings.voteLog,
              withReplicaCount(resolved.limits, REPLICA_COUNT_MAX),
              ownId,
            );
      if (voteLog !== null) cleanups.push(() => voteLog.close());

      const traceFile = settings.traceFile === null ? null : new TraceFile(settings.traceFile, nodeId);
      if (traceFile !== null) cleanups.push(() => traceFile.close());

      const registry = new Registry();
      createTransportMetrics(registry, transport);
      const quorum = watchQuorum({ settings, transport, logger, registry, clock: options.clock });
      cleanups.push(() => quorum.close());
      // A cluster with operators can change its validators (docs/reconfiguration.md).
      const engine = new BftEngine(settings.engine, settings.keys, {
        transport: (voteLog ?? transport) as Transport,
        store,
        registry,
        ...(traceFile === null ? {} : { tracer: traceFile.tracer }),
        ...(reconfiguration === null ? {} : { reconfiguration }),
      });
      // A joiner checks certificates its former machine may have signed: its own epoch-0 key too.
      for (const validator of cluster.validators)
        if (validator.nodeId !== nodeId || settings.joining !== null)
          engine.registerNodePublicKey(validator.nodeId, validator.publicKey);
      watchEngine(engine, logger);
      if (reconfiguration !== null)
        followEpochs(
          engine,
          transport,
          discovery,
          reconfiguration,
          [settings.keys, ...settings.nextKeys],
          logger,
          quorum,
        );
      await engine.start();
      cleanups.push(() => engine.stop({ drainTimeoutMs: 0 }));

      const events = new EventHub({
        clientsMax: settings.http.eventClientsMax,
        bufferBytesMax: settings.http.eventBufferBytesMax,
        logger,
        // Resumed streams replay from the store through what the engine has delivered.
        history: {
          finalizedAt: (sequence) => store.finalizedAt(sequence),
          deliveredSequence: () => engine.deliveredSequence,
        },
        follow: (push) => {
          engine.on('finalized', push);
          return () => engine.off('finalized', push);
        },
      });
      const httpMetrics = createHttpMetrics(registry, {
        openConnections: () => httpLimits.limiter.open,
        eventClientsDropped: () => events.dropped,
      });
      const httpLimits = new HttpLimits(settings.http, { metrics: httpMetrics, logger });
      cleanups.push(() => httpLimits.close());
      // The node is made last; damage found before (by a lookup) waits for it.
      let onDamage = (error: StoreCorruptError): void => {
        foundEarly ??= error;
      };
      let foundEarly: StoreCorruptError | null = null;
      const api = new HttpApi({
        engine,
        store,
        storeDamaged: (error) => onDamage(error),
        connectedPeers: () => transport.connectedPeers(),
        duplicateIdentities: () => transport.duplicateIdentities(),
        quorum: () => quorum.reading(),
        settings,
        logger,
        events,
        registry,
        limits: httpLimits,
        metrics: httpMetrics,
      });
      const server = httpLimits.createServer(api.handle);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(settings.http.listen.port, settings.http.listen.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const httpAddress = server.address() as AddressInfo;
      const host = httpAddress.family === 'IPv6' ? `[${httpAddress.address}]` : httpAddress.address;
      const node = new CretoaiNode({
        settings,
        engine,
        store,
        transport,
        voteLog,
        traceFile,
        limitedLog,
        quorum,
        logger,
        server,
        api,
        httpLimits,
        events,
        unlock,
        httpUrl: `http://${host}:${httpAddress.port}`,
        consensusPort: consensusAddress.port,
      });
      engine.on('error', (error) => node.#halted(error));
      onDamage = (error) => node.#storeDamaged(error);
      if (foundEarly !== null) node.#storeDamaged(foundEarly);
      if (settings.scrub.enabled) node.#startScrub();
      logger.info('node-started', {
        http: node.httpUrl,
        consensus: `${consensusAddress.address}:${consensusAddress.port}`,
        transport: settings.transport.protocol,
        sequence: engine.status().sequence,
        view: engine.status().view,
      });
      return node;
    } catch (error) {
      await undo();
      throw error;
    }
  }

  /** Stops gracefully (see the module comment). Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    const started = performance.now();
    const pending = this.engine.status().pendingProposals;
    this.logger.info('node-stopping', { pendingProposals: pending, drainMs: this.settings.shutdownDrainMs });
    this.#api.stopAccepting();
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#events.close();
    this.#server.closeIdleConnections();
    await this.engine.stop({ drainTimeoutMs: this.settings.shutdownDrainMs });
    this.#server.closeAllConnections();
    await closed;
    await this.transport.stop();
    // After the transport: no refusal can arrive any more, and what was held back is logged.
    this.#limitedLog.close();
    this.quorum.close();
    this.#voteLog?.close();
    this.#traceFile?.close();
    await this.store.close();
    this.#unlock();
    this.#httpLimits.close();
    this.logger.info('node-stopped', {
      sequence: this.store.lastFinalized,
      stopMs: Math.round(performance.now() - started),
    });
  }

  /**
   * Starts the background scrub (`src/storage/scrub.ts`) at the configured rate, with its
   * progress as metrics.
   */
  #startScrub(): void {
    const { scrub } = this.settings;
    const scrubber = this.store.startScrub(
      {
        readsPerSecond: scrub.readsPerSecond,
        bytesPerSecond: scrub.bytesPerSecond,
        passIntervalMs: scrub.passIntervalMs,
      },
      {
        onDamage: (error) => this.#storeDamaged(error),
        onFailure: (error) => this.logger.error('store-scrub-failed', { error }),
        onPass: (pass) => this.logger.info('store-scrub-pass', { ...pass }),
      },
    );
    this.scrubber = scrubber;
    const registry = this.engine.metrics();
    registerScrubMetrics(registry, scrubber.stats);
  }

  /**
   * The store holds a damaged record (found by the scrub, a lookup or a state-transfer read):
   * the node stops serving, as it refuses to start on a damaged store, and records the finding
   * in the data directory so that the next start refuses the store at once with the same
   * message and ways back (wipe, or restore a backup). It could keep serving what still checks
   * out, since every read verifies its record; it does not, because damage seldom comes alone
   * (a failing disk, a bad copy), a restart would run on the same store, and a replica that
   * stops loudly is one an operator repairs, while the cluster carries on with the others.
   */
  #storeDamaged(error: StoreCorruptError): void {
    if (this.#damaged) return;
    this.#damaged = true;
    try {
      markStoreDamaged(this.settings.dataDir, error);
    } catch (markError) {
      this.logger.error('store-damage-unrecorded', { error: markError });
    }
    this.logger.error('store-damaged', {
      code: error.code,
      detail: error.detail,
      message: error.message,
      advice:
        'the node stops serving and exits (status 3); it refuses this store until it is wiped ' +
        '(cretoai-node wipe: it rejoins by state transfer) or a backup is restored (cretoai-node restore)',
    });
    this.scrubber?.stop();
    this.#stopServingNow();
    // No more frames in, so no state transfer is served; what was released still leaves.
    void this.engine
      .stop({ drainTimeoutMs: 0 })
      .catch(() => undefined)
      .finally(() => this.emit('halted', error));
  }

  #halted(error: Error): void {
    if (error instanceof StoreCorruptError) {
      this.#storeDamaged(error);
      return;
    }
    this.logger.error('engine-halted', {
      error,
      advice: 'the process exits; restart it to recover from its store',
    });
    this.#stopServingNow();
    this.#traceFile?.close();
    this.emit('halted', error);
  }

  /**
   * Stops serving at once, on a halt: no new requests, events or connections. The process
   * exits next: what was held back is logged now, and no timer is left behind.
   */
  #stopServingNow(): void {
    this.#api.stopAccepting();
    this.#events.close();
    this.#server.close();
    this.#server.closeAllConnections();
    this.#limitedLog.close();
    this.quorum.close();
    this.#httpLimits.close();
  }
}

function definedOnly<T extends Record<string, unknown>>(object: T): Partial<T> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Logs the transport's events. Refused handshakes are logged through `limitedLog`: anyone who
 * reaches the consensus port can cause one per connection, so each interval gets one line and
 * a summary of the rest (counted in full by `cretoai_transport_handshakes_refused_total`).
 * Connections refused as `busy` before a handshake emit no event; they are in the metric only.
 * `dial-failed` is not logged: the dialed peers are the cluster file's validators, and redials
 * back off, so it cannot flood.
 */
function watchTransport(transport: StreamTransport, logger: Logger, limitedLog: LogLimiter): void {
  transport.on('peer-connected', (info) =>
    logger.info('peer-connected', { peer: info.peer, address: info.remoteAddress, port: info.remotePort }),
  );
  transport.on('peer-disconnected', ({ peer, reason }) => logger.info('peer-disconnected', { peer, reason }));
  // Only the peer's own key can make a connection that replaces a live one; still, say so.
  transport.on('peer-connection-replaced', (info) =>
    logger.info('peer-connection-replaced', {
      peer: info.peer,
      address: info.remoteAddress,
      instance: info.peerInstance,
      previousAddress: info.previous.remoteAddress,
      previousInstance: info.previous.peerInstance,
    }),
  );
  transport.on('link-failed', ({ peer, failure, remoteAddress }) =>
    logger.warn('link-failed', { peer, failure, address: remoteAddress }),
  );
  transport.on('peer-misbehaved', ({ peer, code, detail }) =>
    logger.warn('peer-misbehaved', { peer, code, detail }),
  );
  transport.on('handshake-refused', ({ side, remoteAddress, claimedPeer, refusal }) => {
    limitedLog.record(
      'handshake-refused',
      { code: refusal.code, address: remoteAddress },
      { side, remoteAddress, claimedPeer, code: refusal.code, detail: refusal.detail },
    );
    // Hints that this node's own key runs elsewhere too. Unauthenticated (anyone can claim an
    // id, or send a REFUSE), so they are logged as suspicions, rate-limited like the rest.
    if (refusal.code === 'self-connection' || refusal.detail === `peer refused: self-connection`) {
      limitedLog.record(
        'duplicate-identity-suspected',
        { code: 'self-connection', address: remoteAddress },
        {
          side,
          address: remoteAddress,
          detail:
            side === 'acceptor'
              ? "a connection claimed this node's own id: another process may run with this node's key"
              : "the node dialed answered as this node's own id: another process runs with this node's key there",
        },
      );
    }
    if (refusal.detail === 'peer refused: duplicate-identity') {
      limitedLog.record(
        'duplicate-identity-refused',
        { code: 'duplicate-identity', address: remoteAddress },
        {
          peer: claimedPeer,
          address: remoteAddress,
          detail:
            "the peer refuses this node: another live process with this node's key holds its link. Stop one of the two processes",
        },
      );
    }
  });
  // Two live processes with one validator's key take turns at this node's link to it.
  transport.on('duplicate-identity', ({ peer, incumbent, duplicate, refusedForMs, detections }) =>
    limitedLog.record(
      'duplicate-identity',
      { code: peer, address: duplicate.remoteAddress },
      {
        peer,
        message: `two processes are running with ${peer}'s key: one at ${where(incumbent)}, one at ${where(duplicate)}. Stop one of them`,
        address: where(incumbent),
        instance: incumbent.instance,
        duplicateAddress: where(duplicate),
        duplicateInstance: duplicate.instance,
        refusedForMs,
        detections,
      },
    ),
  );
}

function where(sighting: {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}): string {
  return `${sighting.remoteAddress ?? 'unknown'}:${sighting.remotePort ?? '?'}`;
}

/**
 * The quorum watch of a node (`quorum-watch.ts`): re-read whenever a peer connects or
 * disconnects, logged on debounced transitions, exported as gauges read at scrape time.
 */
function watchQuorum(parts: {
  readonly settings: NodeSettings;
  readonly transport: StreamTransport;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly clock: Clock | undefined;
}): QuorumWatch {
  const { settings, transport, logger, registry } = parts;
  const metrics = createQuorumMetrics(registry, () => quorum.reading());
  const quorum = new QuorumWatch({
    validators: settings.cluster.validators.length,
    needed: settings.resolved.replica.quorum,
    connectedPeers: () => transport.connectedPeers(),
    debounceMs: settings.quorumDebounceMs,
    ...(parts.clock === undefined ? {} : { clock: parts.clock }),
    onChange: (change, reading) => {
      const fields = {
        reachable: reading.reachable,
        validators: reading.validators,
        needed: reading.needed,
        peers: [...transport.connectedPeers()].sort(),
        message: describeQuorum(reading),
      };
      if (change === 'lost') {
        metrics.losses.inc();
        logger.warn('quorum-lost', {
          ...fields,
          advice: 'nothing can be finalized until enough validators are reachable again; /readyz answers 503',
        });
      } else logger.info('quorum-regained', fields);
    },
  });
  transport.on('peer-connected', () => quorum.update());
  transport.on('peer-disconnected', () => quorum.update());
  return quorum;
}

function watchEngine(engine: BftEngine, logger: Logger): void {
  engine.on('view-change', ({ view, reason }) => logger.warn('view-change', { view, reason }));
  engine.on('view-entered', ({ view, leader }) => logger.info('view-entered', { view, leader }));
  engine.on('banned', ({ nodeId }) => logger.warn('validator-banned', { peer: nodeId }));
}
