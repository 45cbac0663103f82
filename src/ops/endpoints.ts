import type { IncomingMessage, ServerResponse } from 'node:http';
import { safeEqual } from '../core/secrets.ts';
import type { Logger } from '../logger.ts';
import { registry } from '../metrics.ts';
import type { Readiness } from './readiness.ts';

/** Answers an ops request (/healthz, /readyz, /metrics) and returns true, or returns false for any other path. */
export type OpsHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const PATHS = new Set(['/healthz', '/readyz', '/metrics']);
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/**
 * The operators' endpoints, answered before GraphQL and without its authentication:
 * `GET /healthz` (200 while the event loop runs), `GET /readyz` (200 or 503 with what is not
 * ready) and `GET /metrics` (Prometheus text format; with a metrics token, only for
 * `authorization: Bearer <token>`). While the process drains, every response asks the client
 * to close its connection, so keep-alive clients move to another process.
 */
export function opsEndpoints(options: { readiness: Readiness; metricsToken: string | null; logger: Logger }): OpsHandler {
  const { readiness, metricsToken } = options;
  const log = options.logger.child({ component: 'ops' });

  return (req, res) => {
    if (readiness.draining) res.shouldKeepAlive = false;
    const path = pathOf(req.url);
    if (!PATHS.has(path)) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, 405, { error: 'use GET' }, { allow: 'GET, HEAD' });
      return true;
    }
    if (path === '/healthz') {
      send(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      readiness.check().then(
        (report) => send(res, report.ready ? 200 : 503, { status: report.ready ? 'ready' : 'not ready', checks: report.checks }),
        (err) => send(res, 503, { status: 'not ready', error: String(err) }),
      );
    } else if (metricsToken !== null && !hasToken(req.headers.authorization, metricsToken)) {
      send(
        res,
        401,
        { error: 'send authorization: Bearer <HERALD_METRICS_TOKEN>' },
        { 'www-authenticate': 'Bearer realm="herald-metrics"' },
      );
    } else {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : text);
        },
        (err) => {
          log.error({ err }, 'metrics could not be collected');
          send(res, 500, { error: 'metrics could not be collected' });
        },
      );
    }
    return true;
  };
}

function pathOf(url: string | undefined): string {
  const q = url?.indexOf('?') ?? -1;
  return q === -1 ? (url ?? '/') : url!.slice(0, q);
}

function hasToken(authorization: string | undefined, token: string): boolean {
  const match = authorization ? BEARER.exec(authorization) : null;
  return match !== null && safeEqual(match[1], token);
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(`${JSON.stringify(body)}\n`);
}
