import { createServer, type Server, Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a server, standing for a network that misbehaves without
 * closing anything: it can stop passing bytes altogether (a hung database, a stopped VM), or stop
 * reading what the server sends on WebSocket connections only (the client's requests still go
 * through), so the server's writes pile up in its TCP buffers as for a client that does not keep up.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Sets where new connections go (the server may start after the proxy, to be told its address). */
  setTarget(port: number): void;
  /** Stops passing bytes either way on every connection, those opened later included. */
  freeze(): void;
  /** Passes bytes again. */
  thaw(): void;
  /** Stops reading what the server sends on WebSocket connections. */
  stallWebSockets(): void;
  /** Reads again: whatever waited in the buffers flows to the client. */
  resumeWebSockets(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** The client's first bytes went through (they tell a WebSocket upgrade). */
  started: boolean;
  webSocket: boolean;
}

/** A proxy to `host:port` (the port may be set later with setTarget). */
export async function startTcpProxy(target: { host?: string; port?: number } = {}): Promise<TcpProxy> {
  const host = target.host ?? '127.0.0.1';
  let port = target.port ?? 0;
  let frozen = false;
  let stalling = false;
  const pairs = new Set<Pair>();

  /** Pipes a started pair as the proxy's state says: nothing while frozen, not back to a stalled WebSocket client. */
  const connect = (pair: Pair) => {
    if (frozen) return;
    pair.client.pipe(pair.upstream);
    if (!(pair.webSocket && stalling)) pair.upstream.pipe(pair.client);
  };
  const disconnect = (pair: Pair, both: boolean) => {
    pair.upstream.unpipe(pair.client);
    pair.upstream.pause();
    if (!both) return;
    pair.client.unpipe(pair.upstream);
    pair.client.pause();
  };

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    const pair: Pair = { client, upstream, started: false, webSocket: false };
    pairs.add(pair);
    upstream.connect(port, host);
    client.once('data', (first: Buffer) => {
      // The request line and headers of an upgrade arrive in the first packet.
      pair.webSocket = /\r\nupgrade:\s*websocket/i.test(first.toString('latin1'));
      pair.started = true;
      upstream.write(first);
      connect(pair);
    });
    if (frozen) client.pause();
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const own = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${own}`,
    port: own,
    setTarget(next) {
      port = next;
    },
    freeze() {
      frozen = true;
      for (const pair of pairs) disconnect(pair, true);
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) {
        if (pair.started) connect(pair);
        else pair.client.resume();
      }
    },
    stallWebSockets() {
      stalling = true;
      for (const pair of pairs) if (pair.webSocket) disconnect(pair, false);
    },
    resumeWebSockets() {
      stalling = false;
      for (const pair of pairs) if (pair.webSocket && pair.started && !frozen) pair.upstream.pipe(pair.client);
    },
    close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.upstream.destroy();
      }
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
