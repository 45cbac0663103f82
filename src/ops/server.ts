import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from '../logger.ts';
import type { OpsHandler } from './endpoints.ts';

export interface OpsServer {
  /** Base URL, e.g. http://127.0.0.1:9464 */
  url: string;
  stop(): Promise<void>;
}

/**
 * The HTTP server of a process that serves no API (`--role worker`): only /healthz, /readyz
 * and /metrics; anything else is 404.
 */
export async function startOpsServer(options: { host: string; port: number; handler: OpsHandler; logger: Logger }): Promise<OpsServer> {
  const server = createServer((req, res) => {
    if (options.handler(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"error":"not found: this process serves /healthz, /readyz and /metrics"}\n');
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  options.logger.info({ url }, 'ops endpoints listening');
  return {
    url,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, 1000);
      await closed;
      clearTimeout(timer);
    },
  };
}
