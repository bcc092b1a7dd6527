/**
 * The TCP transport: the {@link StreamTransport} over `node:net` sockets. Everything but
 * making and accepting sockets (the handshake, sealed frames, admission, queues, reconnect)
 * is the stream transport's; see `stream-transport.ts`.
 *
 * A dial leaves from this node's listen address when that is a specific IP, so that peers see
 * the address the cluster file lists for it and count the connection against the validators'
 * reserved admission pool rather than the strangers' one.
 */
import * as net from 'node:net';
import type { ResolvedAddress } from './discovery.ts';
import { StreamTransport } from './stream-transport.ts';
import {
  type ListenAddress,
  type ListenHooks,
  type PeerStream,
  positiveInteger,
  type StreamConnector,
  type StreamTransportOptions,
} from './stream-types.ts';

/** The TCP transport's options: the common ones and keep-alive. */
export interface TcpTransportOptions extends StreamTransportOptions {
  /** TCP keep-alive probe delay, to notice a peer that vanished. Default 10,000 ms. */
  readonly keepAliveMs?: number;
}

/** Whether `host` names one address (not a wildcard such as 0.0.0.0 or ::). */
function specificIp(host: string): number {
  const family = net.isIP(host);
  if (family === 0 || host === '0.0.0.0' || host === '::') return 0;
  return family;
}

/** Makes TCP streams: the {@link StreamConnector} of {@link TcpTransport}. */
class TcpConnector implements StreamConnector {
  readonly #keepAliveMs: number;
  /** Sockets dialed and not yet handed to the transport, closed by `close`. */
  readonly #pending = new Set<net.Socket>();
  #server: net.Server | null = null;
  #localHost: string | null = null;

  constructor(options: TcpTransportOptions) {
    this.#keepAliveMs = positiveInteger('keepAliveMs', options.keepAliveMs ?? 10_000);
  }

  listen(host: string, port: number, hooks: ListenHooks): Promise<ListenAddress> {
    const server = net.createServer({ noDelay: true }, (socket) => hooks.onStream(this.#streamOf(socket)));
    this.#server = server;
    this.#localHost = specificIp(host) === 0 ? null : host;
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => {
        if (this.#server === server) this.#server = null;
        reject(error);
      };
      server.once('error', onError);
      server.listen(port, host, () => {
        server.off('error', onError);
        // Accept errors after listening are per-connection and reported there.
        server.on('error', () => {});
        const bound = server.address() as net.AddressInfo;
        resolve({ address: bound.address, port: bound.port });
      });
    });
  }

  connect(address: ResolvedAddress): Promise<PeerStream> {
    const local = this.#localHost;
    const socket = net.connect({
      host: address.ip,
      port: address.port,
      noDelay: true,
      ...(local !== null && specificIp(local) === address.family ? { localAddress: local } : {}),
    });
    this.#pending.add(socket);
    socket.on('error', () => {});
    return new Promise((resolve, reject) => {
      const onClose = (): void => {
        this.#pending.delete(socket);
        reject(new Error('connection failed'));
      };
      socket.once('close', onClose);
      socket.once('connect', () => {
        socket.off('close', onClose);
        this.#pending.delete(socket);
        resolve(this.#streamOf(socket));
      });
    });
  }

  async close(): Promise<void> {
    for (const socket of this.#pending) socket.destroy();
    this.#pending.clear();
    const server = this.#server;
    this.#server = null;
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  #streamOf(socket: net.Socket): PeerStream {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, this.#keepAliveMs);
    return {
      duplex: socket,
      remoteAddress: socket.remoteAddress,
      remotePort: socket.remotePort,
      channelBinding: new Uint8Array(0),
    };
  }
}

/** The engine's transport over TCP: a {@link StreamTransport} whose streams are sockets. */
export class TcpTransport extends StreamTransport {
  /** @throws ArgumentError on a bound that is not a positive integer, or a node id that is not a validator. */
  constructor(options: TcpTransportOptions) {
    super(options, new TcpConnector(options));
  }
}
