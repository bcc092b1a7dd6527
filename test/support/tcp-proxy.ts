/**
 * A TCP proxy for client tests: it forwards connections to a target port and can cut every open
 * connection, or refuse new ones for a while, so that a test can drop a client's stream at a
 * moment of its choosing.
 */
import net from 'node:net';

export interface TcpProxy {
  /** `http://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  /** Connections accepted and forwarded so far. */
  readonly connections: number;
  /** Destroys every open connection (both sides). */
  cut(): void;
  /** While true, new connections are closed as soon as they arrive (and open ones are cut). */
  refuse(refusing: boolean): void;
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 (a port the OS chooses) to `127.0.0.1:targetPort`. */
export async function tcpProxy(targetPort: number): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let refusing = false;
  let connections = 0;
  const server = net.createServer((client) => {
    client.on('error', () => undefined);
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    upstream.on('error', () => undefined);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      open.add(a);
      a.pipe(b);
      a.on('close', () => {
        open.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const cut = (): void => {
    for (const socket of [...open]) socket.destroy();
  };
  return {
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    cut,
    refuse(value) {
      refusing = value;
      if (value) cut();
    },
    close: async () => {
      cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
