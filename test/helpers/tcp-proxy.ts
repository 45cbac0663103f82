import { createServer, type Server, Socket } from 'node:net';

/**
 * A TCP proxy on 127.0.0.1 in front of a server, standing for a slow network: it can stop reading
 * what the server sends on WebSocket connections (the client's requests still go through), so
 * the server's writes pile up in its TCP buffers exactly as for a client that does not keep up.
 */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** Sets where connections go (the server may start after the proxy, to be told its address). */
  setTarget(port: number): void;
  /** Stops reading what the server sends on WebSocket connections. */
  stallWebSockets(): void;
  /** Reads again: whatever waited in the buffers flows to the client. */
  resumeWebSockets(): void;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  webSocket: boolean;
  stalled: boolean;
}

export async function startTcpProxy(): Promise<TcpProxy> {
  let target = 0;
  let stalling = false;
  const pairs = new Set<Pair>();

  const stall = (pair: Pair) => {
    pair.stalled = true;
    pair.upstream.unpipe(pair.client);
    pair.upstream.pause();
  };

  const server: Server = createServer((client) => {
    const upstream = new Socket();
    const pair: Pair = { client, upstream, webSocket: false, stalled: false };
    pairs.add(pair);
    upstream.connect(target, '127.0.0.1');
    client.once('data', (first: Buffer) => {
      // The request line and headers of an upgrade arrive in the first packet.
      pair.webSocket = /\r\nupgrade:\s*websocket/i.test(first.toString('latin1'));
      upstream.write(first);
      client.pipe(upstream);
      upstream.pipe(client);
      if (pair.webSocket && stalling) stall(pair);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setTarget(next) {
      target = next;
    },
    stallWebSockets() {
      stalling = true;
      for (const pair of pairs) if (pair.webSocket && !pair.stalled) stall(pair);
    },
    resumeWebSockets() {
      stalling = false;
      for (const pair of pairs) {
        if (!pair.stalled) continue;
        pair.stalled = false;
        pair.upstream.pipe(pair.client);
        pair.upstream.resume();
      }
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
