import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Webhook as StandardWebhook } from 'standardwebhooks';

/** One request as the receiver saw it. */
export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  /** The raw body, exactly as sent (for signature checks). */
  body: string;
  receivedAt: Date;
  /** SNI name the client sent (TLS receivers only). */
  servername?: string;
}

/**
 * Answers a request whose body has been read. It may answer late, slowly or never;
 * `close()` cuts whatever is still open.
 */
export type ReceiverHandler = (req: IncomingMessage, res: ServerResponse, received: ReceivedRequest) => unknown;

export interface ReceiverOptions {
  /** Serve HTTPS with this certificate (see createTestCa); plain HTTP otherwise. */
  tls?: { certPem: string; keyPem: string };
  handler?: ReceiverHandler;
}

export interface Receiver {
  /** Base URL, e.g. `https://127.0.0.1:43121`. */
  url: string;
  port: number;
  server: Server;
  /** Every request received, in order. */
  requests: ReceivedRequest[];
  /** TCP connections accepted so far (counted even when no request follows). */
  readonly connections: number;
  /** Resolves once at least `n` requests arrived; rejects after `timeoutMs`. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  setHandler(handler: ReceiverHandler): void;
  close(): Promise<void>;
}

const answerOk: ReceiverHandler = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
};

/** A real HTTP(S) endpoint on 127.0.0.1 and a free port, recording what it receives. */
export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  let handler = options.handler ?? answerOk;
  const requests: ReceivedRequest[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();
  let connections = 0;

  const onRequest = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk);
    const received: ReceivedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      receivedAt: new Date(),
      servername: (req.socket as TLSSocket).servername || undefined,
    };
    requests.push(received);
    for (const wake of waiters) wake();
    try {
      await handler(req, res, received);
    } catch (error) {
      if (!res.headersSent) res.writeHead(500).end(String(error));
    }
  };

  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.certPem, key: options.tls.keyPem }, onRequest)
    : createHttpServer(onRequest);
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  // A client that rejects our certificate is a normal test case, not a crash.
  server.on('tlsClientError', () => {});

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    server,
    requests,
    get connections() {
      return connections;
    },
    waitFor(n, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (requests.length < n) return;
          cleanup();
          resolve(requests);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`receiver got ${requests.length} of ${n} requests within ${timeoutMs} ms`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    setHandler(next) {
      handler = next;
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        // Hanging and keep-alive connections would otherwise hold close() open.
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

/** The distinct `webhook-id` headers a receiver got. */
export function webhookIds(receiver: Receiver): Set<string> {
  return new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
}

/**
 * A receiver handler that holds every request open until `answerAll()`; after that it
 * answers 200 at once. Requests whose client went away are just dropped.
 */
export function holdingHandler() {
  const held: ServerResponse[] = [];
  let answering = false;
  const answer = (res: ServerResponse) => {
    if (!res.destroyed && !res.headersSent) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  };
  const handler: ReceiverHandler = (_req, res) => {
    if (answering) answer(res);
    else held.push(res);
  };
  return {
    handler,
    get held() {
      return held.filter((res) => !res.destroyed).length;
    },
    answerAll() {
      answering = true;
      for (const res of held.splice(0)) answer(res);
    },
  };
}

/** An event body as an endpoint receives it (DESIGN.md, "What an endpoint receives"). */
export interface ReceivedEvent<Data = any> {
  id: string;
  type: string;
  timestamp: string;
  tenantId: string | null;
  channel: string | null;
  data: Data;
}

/**
 * The event bodies a receiver got (those to `path` only, if given), in order, each verified with
 * the public `standardwebhooks` library against `secret` (a bad signature throws), with the time
 * it arrived.
 */
export function verifiedEvents<Data = any>(
  receiver: Receiver,
  secret: string,
  path?: string,
): (ReceivedEvent<Data> & { receivedAt: Date })[] {
  const webhook = new StandardWebhook(secret);
  return receiver.requests
    .filter((r) => path === undefined || r.url === path)
    .map((r) => {
      const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
      return { ...(webhook.verify(r.body, headers) as ReceivedEvent<Data>), receivedAt: r.receivedAt };
    });
}

/**
 * Wraps a receiver handler to count the requests open at once (received, not yet answered or
 * gone): `peak` is the most there ever were, `open` how many there are now.
 */
export function concurrencyMeter(inner: ReceiverHandler) {
  let open = 0;
  let peak = 0;
  const handler: ReceiverHandler = async (req, res, received) => {
    open++;
    peak = Math.max(peak, open);
    let counted = true;
    const done = () => {
      if (counted) open--;
      counted = false;
    };
    res.once('finish', done);
    res.once('close', done);
    await inner(req, res, received);
  };
  return {
    handler,
    get open() {
      return open;
    },
    get peak() {
      return peak;
    },
    reset() {
      peak = open;
    },
  };
}

/** A handler that answers 200 after `ms`. */
export function answerAfter(ms: number): ReceiverHandler {
  return (_req, res) => void setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'), ms);
}
