/**
 * A TCP proxy in front of PostgreSQL that can silently drop chosen connections: it keeps their
 * sockets open but forwards nothing more either way, as a NAT or firewall that forgot them
 * would. Connections are chosen by the application_name in their startup message.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Proxy {
  port: number;
  /**
   * Forward nothing more on the connections open now whose application_name contains `text`
   * (new connections pass). Returns how many were silenced.
   */
  blackhole(text: string): number;
  /** Close at once every new connection whose application_name contains `text` (undefined: none). */
  refuse(text: string | undefined): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<Proxy> {
  const sockets = new Set<Socket>();
  const open = new Map<Socket, { name: string | undefined; silent: boolean }>();
  let refused: string | undefined;
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const state: { name: string | undefined; silent: boolean } = { name: undefined, silent: false };
    open.set(client, state);
    client.on('data', (chunk: Buffer) => {
      // The first packet is the startup message: "application_name\0<value>\0" among its pairs.
      if (state.name === undefined) {
        const text = chunk.toString('latin1');
        const at = text.indexOf('application_name\0');
        state.name = at >= 0 ? (text.slice(at + 17).split('\0')[0] ?? '') : '';
        if (refused !== undefined && state.name.includes(refused)) {
          close();
          return;
        }
      }
      if (!state.silent) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!state.silent) client.write(chunk);
    });
    const close = (): void => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    blackhole(text) {
      let silenced = 0;
      for (const state of open.values()) {
        if (state.name?.includes(text)) {
          state.silent = true;
          silenced += 1;
        }
      }
      return silenced;
    },
    refuse(text) {
      refused = text;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
