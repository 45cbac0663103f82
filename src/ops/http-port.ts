import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * A bound HTTP port whose handler comes later. The API's is bound first thing at start: a port
 * another program holds fails the start before the database, pg-boss or the worker are touched,
 * so there is nothing to stop but this. Until `serve` is called, requests get the ops endpoints
 * once `ops` is set, and a 503 otherwise. A worker's ops endpoints use one too.
 */
export interface HttpPort {
  readonly server: Server;
  /** The bound port (the one picked when PORT=0). */
  readonly port: number;
  /** Answers the ops endpoints while Herald starts (before `serve`); returns true when it answered. */
  ops: ((req: IncomingMessage, res: ServerResponse) => boolean) | null;
  /** Hands every request from now on to `handler`. */
  serve(handler: RequestListener): void;
  /**
   * Stops listening; requests in flight get `graceMs` to finish, then their sockets are cut.
   * Idempotent.
   */
  close(graceMs?: number): Promise<void>;
}

/**
 * The host to listen on (HOST) could not be looked up: `code` is getaddrinfo's (ENOTFOUND: no
 * such name; EAI_AGAIN and others: the resolver failed, the name may be right).
 */
export class HostLookupError extends Error {
  readonly host: string;
  readonly code: string;
  constructor(host: string, cause: NodeJS.ErrnoException) {
    super(`cannot look up ${host}: ${cause.code}`, { cause });
    this.name = 'HostLookupError';
    this.host = host;
    this.code = cause.code ?? 'unknown';
  }
}

/**
 * Listens on host:port; rejects with the listen error (EADDRINUSE, EACCES, EADDRNOTAVAIL) as
 * Node raises it, or a HostLookupError when `host` is a name that could not be looked up.
 */
export async function bindHttpPort(host: string, port: number): Promise<HttpPort> {
  let handler: RequestListener | null = null;
  const server = createServer((req, res) => {
    if (handler) return handler(req, res);
    if (bound.ops?.(req, res)) return;
    res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
    res.end('{"error":"Herald is starting"}\n');
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) => reject(error.syscall === 'getaddrinfo' ? new HostLookupError(host, error) : error);
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  let closing: Promise<void> | null = null;
  const bound: HttpPort = {
    server,
    port: (server.address() as AddressInfo).port,
    ops: null,
    serve(next) {
      handler = next;
    },
    close(graceMs = 5000) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        const timer = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, graceMs);
        server.once('close', () => clearTimeout(timer));
      });
      return closing;
    },
  };
  return bound;
}
