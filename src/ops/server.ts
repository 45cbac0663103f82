import type { Logger } from '../logger.ts';
import type { OpsHandler } from './endpoints.ts';
import { bindHttpPort } from './http-port.ts';

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
  const bound = await bindHttpPort(options.host, options.port);
  bound.serve((req, res) => {
    if (options.handler(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json; charset=utf-8' });
    res.end('{"error":"not found: this process serves /healthz, /readyz and /metrics"}\n');
  });
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${bound.port}`;
  options.logger.info({ url }, 'ops endpoints listening');
  return { url, stop: () => bound.close(1000) };
}
