import type { LookupAddress } from 'node:dns';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupFunction } from 'node:net';
import { getCACertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { ParsedCidr } from '../core/address.ts';
import { isBlockedAddress, parseCidrs } from '../core/address.ts';
import { BoundedMap } from '../core/bounded-map.ts';
import { blockedHost, parseWebhookUrl } from '../core/webhook-url.ts';

/** Why an attempt failed, when the status alone does not tell (DESIGN.md, Attempt `error`). */
export type AttemptError =
  | 'TIMEOUT'
  | 'CONNECTION'
  | 'DNS'
  | 'TLS'
  | 'BLOCKED_ADDRESS'
  | 'REDIRECT'
  | 'BODY_TOO_LARGE'
  | 'INVALID_URL'
  /** The delivery profile could not render the body or headers: nothing was sent. */
  | 'TRANSFORM'
  | 'UNKNOWN';

export interface OutboundRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Bound on the whole exchange: connect, headers and reading the (capped) body. */
  timeoutMs: number;
  /** Ends the request early (the worker stopping); send() then rejects with the signal's reason. */
  signal?: AbortSignal;
}

export interface OutboundResult {
  /** null when no response arrived. */
  status: number | null;
  /** Response headers, lowercase names, repeated ones joined with ', '. */
  headers: Record<string, string>;
  /**
   * The start of the body decoded as UTF-8 (lossy: a byte that is not UTF-8 becomes U+FFFD, as
   * does NUL, which PostgreSQL cannot store), at most maxResponseBytes of UTF-8, cut between
   * characters.
   */
  body: string;
  bodyTruncated: boolean;
  durationMs: number;
  /**
   * Set whenever the attempt failed for a reason other than a non-2xx status. A status may be
   * present too: a 3xx is 'REDIRECT', and a body still trickling at the deadline is 'TIMEOUT'.
   */
  error: AttemptError | null;
  /** Short and safe to show a tenant: no URL query, headers or secrets. */
  errorMessage: string | null;
}

/** Resolves a hostname to every address it has, like `dns.lookup(host, { all: true })`. */
export type ResolveHost = (hostname: string) => Promise<LookupAddress[]>;

export interface DeliveryClientOptions {
  /** Ranges exempt from the SSRF guard (`HERALD_ALLOWED_CIDRS`). */
  allowedCidrs?: string[];
  /** Accept `http://` URLs (`HERALD_ALLOW_HTTP`, local development only). */
  allowHttp?: boolean;
  connectTimeoutMs?: number;
  maxResponseBytes?: number;
  /** Default unlimited: per-webhook `maxInFlight` already bounds concurrency upstream. */
  connectionsPerOrigin?: number;
  /** Extra trusted CAs, added to the default store (public CAs and NODE_EXTRA_CA_CERTS). */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Replaces the system resolver (tests, custom DNS); every answer still passes the guard. */
  resolveHost?: ResolveHost;
}

export interface DeliveryClient {
  /** Never rejects for network problems: every outcome is an OutboundResult. Rejects only when `req.signal` ends the request. */
  send(req: OutboundRequest): Promise<OutboundResult>;
  close(): Promise<void>;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024;

/** Raised inside the connection's lookup so undici reports it like any connect error. */
class BlockedAddressError extends Error {
  readonly code = 'ERR_HERALD_BLOCKED_ADDRESS';
}

class DeadlineError extends Error {
  readonly code = 'ERR_HERALD_DEADLINE';
}

export function createDeliveryClient(opts: DeliveryClientOptions = {}): DeliveryClient {
  const allowed = parseCidrs(opts.allowedCidrs ?? []);
  // The URL checks depend only on the URL and this client's settings: done once per URL.
  const targets = new BoundedMap<string, Target>(10_000);
  const maxResponseBytes = opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  const agent = new Agent({
    pipelining: 1,
    allowH2: false,
    connections: opts.connectionsPerOrigin ?? null,
    connect: {
      timeout: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      // net/tls.connect resolve through this and connect to exactly the addresses it checked;
      // TLS keeps the URL's hostname for SNI and certificate checks.
      lookup: guardedLookup(allowed, opts.resolveHost ?? resolveWithSystem),
      // Passing `ca` replaces Node's default store, so start from that store (public CAs
      // plus NODE_EXTRA_CA_CERTS); without the option Node uses it unchanged.
      ...(opts.ca === undefined ? {} : { ca: [...getCACertificates('default'), ...[opts.ca].flat()] }),
    },
  });

  async function send(req: OutboundRequest): Promise<OutboundResult> {
    const started = performance.now();
    const finish = (result: Partial<OutboundResult>): OutboundResult => ({
      status: null,
      headers: {},
      body: '',
      bodyTruncated: false,
      error: null,
      errorMessage: null,
      ...result,
      durationMs: Math.round(performance.now() - started),
    });

    let target = targets.get(req.url);
    if (!target) {
      target = checkTarget(req.url, opts.allowHttp ?? false, allowed);
      targets.set(req.url, target);
    }
    if ('error' in target) return finish(target);

    req.signal?.throwIfAborted();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DeadlineError('deadline')), req.timeoutMs);
    const onAbort = () => deadline.abort(req.signal!.reason);
    req.signal?.addEventListener('abort', onAbort, { once: true });
    const failure = (err: unknown): Partial<OutboundResult> => {
      // Ended by the caller, not by the endpoint: no outcome to report.
      if (req.signal?.aborted) throw req.signal.reason;
      return deadline.signal.aborted
        ? { error: 'TIMEOUT', errorMessage: `no complete response within ${req.timeoutMs} ms` }
        : classifyError(err);
    };
    try {
      const exchanged = await exchange(agent, target.url, req, maxResponseBytes, deadline.signal);
      if (exchanged.status === null) return finish(failure(exchanged.error));
      const { status, headers } = exchanged;
      const read = decodeCapped(exchanged, maxResponseBytes);
      const result = { status, headers, body: read.text, bodyTruncated: read.truncated };
      if (exchanged.error !== undefined) return finish({ ...result, ...failure(exchanged.error) });
      if (status >= 300 && status < 400) {
        return finish({ ...result, error: 'REDIRECT', errorMessage: `redirects are not followed (HTTP ${status})` });
      }
      return finish(result);
    } finally {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
    }
  }

  return { send, close: () => agent.close() };
}

/** What a BLOCKED_ADDRESS attempt's message ends with: the setting that opens a range. */
const ALLOW_HINT = 'the SSRF guard; HERALD_ALLOWED_CIDRS can allow its range';

type Target = { url: URL } | { error: AttemptError; errorMessage: string };

/**
 * URL rules checked before any socket opens (the same as when the URL was stored); IP
 * literals never reach the lookup, so they are checked here too.
 */
function checkTarget(raw: string, allowHttp: boolean, allowed: ParsedCidr[]): Target {
  const checked = parseWebhookUrl(raw, allowHttp);
  if ('problem' in checked) return { error: 'INVALID_URL', errorMessage: `The URL ${checked.problem}` };
  const { url } = checked;
  const blocked = blockedHost(url, allowed);
  if (blocked)
    return { error: 'BLOCKED_ADDRESS', errorMessage: `address ${blocked.host} is not allowed: ${blocked.reason} (${ALLOW_HINT})` };
  return { url };
}

function resolveWithSystem(hostname: string): Promise<LookupAddress[]> {
  return dnsLookup(hostname, { all: true });
}

/** A net `lookup` that resolves once, refuses the host if any address is blocked, else answers. */
function guardedLookup(allowed: ParsedCidr[], resolve: ResolveHost): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (addresses) => {
        const blocked = addresses.find((a) => isBlockedAddress(a.address, allowed));
        const usable = addresses.filter((a) => !options.family || a.family === options.family);
        if (blocked) {
          callback(new BlockedAddressError(`${hostname} resolves to ${blocked.address}, which is not allowed (${ALLOW_HINT})`), '');
        } else if (usable.length === 0) {
          callback(Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' }), '');
        } else if (options.all) {
          callback(null, usable);
        } else {
          callback(null, usable[0].address, usable[0].family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

/** What one exchange brought: the status and headers once they came, the body's first chunks. */
interface Exchanged {
  /** null: no response arrived (`error` says why). */
  status: number | null;
  headers: Record<string, string>;
  /** The body's chunks up to and including the one that crossed the cap. */
  chunks: Buffer[];
  truncated: boolean;
  /** Why the exchange ended early, if it did (not set for a body cut at the cap). */
  error?: unknown;
}

/** Ends the download of a body that crossed the cap; not an error of the exchange. */
class CapReached extends Error {}

/**
 * POSTs `req` and collects the response through undici's dispatch handler: no response stream,
 * async iterator or promise chain per request (this runs for every delivery). Reads at most
 * `limit` bytes of body (plus the chunk that crossed it), then drops the connection. Never
 * rejects: a failure is in `error`. `signal` aborts it at any point, queued or under way.
 */
function exchange(agent: Dispatcher, url: URL, req: OutboundRequest, limit: number, signal: AbortSignal): Promise<Exchanged> {
  return new Promise((resolve) => {
    const got: Exchanged = { status: null, headers: {}, chunks: [], truncated: false };
    let size = 0;
    let controller: Dispatcher.DispatchController | null = null;
    let settled = false;
    const settle = (error?: unknown) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (error !== undefined && !(error instanceof CapReached)) got.error = error;
      resolve(got);
    };
    // Before the request has a connection there is no controller yet: it is aborted as it starts.
    const onAbort = () => {
      controller?.abort(signal.reason);
      settle(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const handler: Dispatcher.DispatchHandler = {
      onRequestStart(c) {
        controller = c;
        if (signal.aborted) c.abort(signal.reason);
      },
      onResponseStart(_c, statusCode, headers) {
        // An interim answer (102, 103) is not the endpoint's answer: request() never reported one.
        if (statusCode < 200) return;
        got.status = statusCode;
        got.headers = flattenHeaders(headers);
      },
      onResponseData(c, chunk) {
        got.chunks.push(chunk);
        size += chunk.length;
        if (size > limit && !got.truncated) {
          got.truncated = true;
          c.abort(new CapReached('response body cap reached'));
        }
      },
      onResponseEnd: () => settle(),
      onResponseError: (_c, err) => settle(err),
    };
    try {
      agent.dispatch(
        { origin: url.origin, path: url.pathname + url.search, method: 'POST', headers: req.headers, body: req.body },
        handler,
      );
    } catch (err) {
      settle(err);
    }
  });
}

const utf8 = new TextDecoder();

/** The body's first `limit` bytes of UTF-8 as text, and whether anything was cut. */
function decodeCapped(got: Exchanged, limit: number): { text: string; truncated: boolean } {
  const { chunks, truncated } = got;
  const whole = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  const bytes = whole.subarray(0, limit);
  const cut = truncated || got.error !== undefined;
  // stream: true holds back a character cut in half at the cap instead of mangling it (a
  // decoder of its own, as it keeps those bytes).
  const decoded = (cut ? new TextDecoder() : utf8).decode(bytes, { stream: cut }).replaceAll('\u0000', '\uFFFD');
  // Each U+FFFD takes three bytes where the byte it replaced took one: cut again, in bytes.
  const text = utf8Prefix(decoded, limit);
  return { text, truncated: truncated || text.length < decoded.length };
}

const encoder = new TextEncoder();

/** The longest prefix of `text` whose UTF-8 fits in `maxBytes`, cut between characters. */
function utf8Prefix(text: string, maxBytes: number): string {
  if (text.length * 3 <= maxBytes) return text; // no UTF-16 unit takes more than 3 bytes
  // encodeInto writes whole characters only; `read` counts the UTF-16 units it took.
  const { read } = encoder.encodeInto(text, new Uint8Array(maxBytes));
  return text.slice(0, read);
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NONAME', 'EAI_NODATA', 'ENODATA']);
const TIMEOUT_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'ETIMEDOUT',
  'ERR_HERALD_DEADLINE',
]);
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);
// OpenSSL verification results arrive as bare codes; Node's own TLS errors are prefixed.
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'HOSTNAME_MISMATCH',
  'EPROTO',
]);

function kindOfCode(code: string): AttemptError | null {
  if (code === 'ERR_HERALD_BLOCKED_ADDRESS') return 'BLOCKED_ADDRESS';
  if (DNS_CODES.has(code)) return 'DNS';
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return 'TLS';
  if (TIMEOUT_CODES.has(code)) return 'TIMEOUT';
  if (CONNECTION_CODES.has(code)) return 'CONNECTION';
  return null;
}

/** Maps a network error (or one it wraps) to an AttemptError and a short message. */
export function classifyError(err: unknown): { error: AttemptError; errorMessage: string } {
  const seen = new Set<unknown>();
  const queue: unknown[] = [err];
  while (queue.length > 0) {
    const current = queue.shift();
    if (!(current instanceof Error) || seen.has(current)) continue;
    seen.add(current);
    const code = (current as NodeJS.ErrnoException).code;
    const kind = typeof code === 'string' ? kindOfCode(code) : null;
    if (kind) return { error: kind, errorMessage: shortMessage(current) };
    if (current.name === 'TimeoutError') return { error: 'TIMEOUT', errorMessage: shortMessage(current) };
    // autoSelectFamily reports one failure per address it tried in an AggregateError.
    if (current instanceof AggregateError) queue.push(...current.errors);
    queue.push(current.cause);
  }
  return { error: 'UNKNOWN', errorMessage: shortMessage(err) };
}

function shortMessage(err: unknown): string {
  const message = err instanceof Error ? err.message || err.name : String(err);
  return message.length > 200 ? `${message.slice(0, 197)}...` : message;
}
