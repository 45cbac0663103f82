import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config.ts';
import { ERROR_STATUS, HeraldError, isDatabaseUnavailable } from '../core/errors.ts';
import type { Logger } from '../logger.ts';
import { openPortalSession, portalCodeCaller } from '../services/portal-sessions.ts';
import type { RateLimiter } from '../services/rate-limits.ts';
import { type Asset, loadPortalAssets } from './assets.ts';

export interface PortalDeps {
  orm: MikroORM;
  config: Readonly<Config>;
  logger: Logger;
  /** Opening a session is a request of its tenant, and a bad code a failed authentication of its address. */
  limiter: RateLimiter;
}

/** Serves a request if it is the portal's; returns false for anything else. */
export type PortalHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** A `{ "code": "hrldc_…" }` body is far smaller; anything bigger is not one. */
const MAX_EXCHANGE_BODY_BYTES = 4096;

/** Host headers that may be echoed into the CSP (a name or address and a port, nothing else). */
const PLAIN_HOST = /^([a-z0-9.-]+|\[[0-9a-f:.]+\])(:\d{1,5})?$/i;

/**
 * The page's Content-Security-Policy: scripts only from Herald (and the inline import map, by
 * hash), no inline script or style, connections only back to Herald, framing only by the
 * configured origins.
 */
export function portalCsp(importMapHash: string, frameAncestors: readonly string[], host: string | undefined, secure: boolean): string {
  // 'self' covers ws: and wss: of the same host in CSP 3; browsers before it need them named.
  const sockets = host && PLAIN_HOST.test(host) ? ` ${secure ? 'wss' : 'ws'}://${host}` : '';
  return [
    "default-src 'none'",
    `script-src 'self' ${importMapHash}`,
    "style-src 'self'",
    "img-src 'self' data:",
    `connect-src 'self'${sockets}`,
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors ${frameAncestors.length ? frameAncestors.join(' ') : "'none'"}`,
  ].join('; ');
}

/** Headers on every portal response. */
const COMMON_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The customer portal: the page at `/portal`, its files below `/portal/`, and
 * `POST /portal/session`, which spends a link's one-time code for a session token. Everything
 * else the page does goes through the public GraphQL API.
 */
export function createPortalHandler(deps: PortalDeps): PortalHandler {
  const assets = loadPortalAssets();
  const log = deps.logger.child({ component: 'portal' });

  function send(req: IncomingMessage, res: ServerResponse, asset: Asset, headers: Record<string, string>): void {
    const common = { ...COMMON_HEADERS, ...headers, etag: asset.etag, 'content-type': asset.contentType };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, common).end();
      return;
    }
    res.writeHead(200, { ...common, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }

  function sendPage(req: IncomingMessage, res: ServerResponse): void {
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true || req.headers['x-forwarded-proto'] === 'https';
    const frameAncestors = deps.config.portalFrameAncestors;
    send(req, res, assets.page, {
      'content-security-policy': portalCsp(assets.importMapHash, frameAncestors, req.headers.host, secure),
      // For browsers without CSP frame-ancestors; those with it ignore this header.
      ...(frameAncestors.length ? {} : { 'x-frame-options': 'DENY' }),
      'cache-control': 'no-store',
      'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=()',
    });
  }

  function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      ...COMMON_HEADERS,
      'content-type': 'application/json; charset=utf-8',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(JSON.stringify(body));
  }

  const refusal = (code: string, message: string) => ({ errors: [{ message, extensions: { code } }] });

  /** A HeraldError as the exchange answers it: its status, its headers (retry-after), GraphQL's error shape. */
  function sendError(res: ServerResponse, error: HeraldError): void {
    const { http, ...extensions } = error.extensions as { http?: { headers?: Record<string, string> } };
    sendJson(res, ERROR_STATUS[error.code], { errors: [{ message: error.message, extensions }] }, http?.headers);
  }

  async function exchange(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST')
      return sendJson(res, 405, refusal('METHOD_NOT_ALLOWED', 'POST a JSON body { "code": "…" }'), { allow: 'POST' });
    // JSON only: a cross-site form cannot send it without a CORS preflight, which Herald does not answer.
    if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      return sendJson(res, 415, refusal('BAD_REQUEST', 'Send content-type: application/json'));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_EXCHANGE_BODY_BYTES)
        return sendJson(res, 413, refusal('PAYLOAD_TOO_LARGE', 'Body too large'), { connection: 'close' });
      chunks.push(chunk);
    }
    let code: unknown;
    try {
      code = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { code?: unknown } | null)?.code;
    } catch {
      code = undefined;
    }
    if (typeof code !== 'string' || code === '' || code.length > 200) {
      return sendJson(res, 400, refusal('BAD_REQUEST', 'Send a JSON body { "code": "…" } with the code from the portal link'));
    }
    const em = deps.orm.em.fork();
    const refused = new HeraldError('UNAUTHORIZED', 'This portal link has expired, was revoked or was already used. Ask for a new one.');
    try {
      // Checked before it is spent: a link refused for its tenant's rate stays usable.
      await deps.limiter.admit(req, async () => (await portalCodeCaller(em, code)) ?? Promise.reject(refused));
    } catch (error) {
      if (error instanceof HeraldError) return sendError(res, error);
      throw error;
    }
    const opened = await openPortalSession(em, code);
    if (!opened) return sendError(res, refused); // another page spent it meanwhile
    log.info({ sessionId: opened.sessionId, tenantId: opened.tenantId, readOnly: opened.readOnly }, 'portal session opened');
    sendJson(res, 200, {
      token: opened.token,
      sessionId: opened.sessionId,
      expiresAt: opened.expiresAt.toISOString(),
      readOnly: opened.readOnly,
      tenant: { id: opened.tenantId, name: opened.tenantName },
    });
  }

  return (req, res) => {
    const { pathname } = new URL(req.url ?? '/', 'http://portal');
    if (pathname !== '/portal' && !pathname.startsWith('/portal/')) return false;
    if (pathname === '/portal/session') {
      exchange(req, res).catch((err: unknown) => {
        log.error({ err }, 'portal session exchange failed');
        if (res.headersSent) return res.destroy();
        if (isDatabaseUnavailable(err)) sendJson(res, 503, refusal('SERVICE_UNAVAILABLE', 'The database is unavailable. Retry shortly.'));
        else sendJson(res, 500, refusal('INTERNAL_SERVER_ERROR', 'Unexpected error.'));
      });
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, refusal('METHOD_NOT_ALLOWED', 'GET only'), { allow: 'GET, HEAD' });
      return true;
    }
    if (pathname === '/portal') {
      sendPage(req, res);
      return true;
    }
    if (pathname === '/portal/') {
      // The page's own URLs are relative to `/portal`: send `/portal/` there.
      res.writeHead(308, { ...COMMON_HEADERS, location: '../portal' }).end();
      return true;
    }
    const asset = assets.files.get(pathname.slice('/portal/'.length));
    if (!asset) {
      sendJson(res, 404, refusal('NOT_FOUND', 'No such portal file'));
      return true;
    }
    send(req, res, asset, { 'cache-control': 'no-cache' });
    return true;
  };
}
