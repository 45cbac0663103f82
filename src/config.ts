import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { parseCidrs } from './core/address.ts';
import { PROFILE_NAME } from './core/profiles/definition.ts';
import { parseDuration } from './core/retry.ts';

/** What `herald serve` runs (HERALD_ROLE, or `--role`). */
export const ROLES = ['all', 'api', 'worker'] as const;
/** What a role that is none of ROLES is told. */
export const ROLE_PROBLEM = 'must be all, api or worker';

/** HERALD_SHUTDOWN_DRAIN's default, when HERALD_SHUTDOWN_TIMEOUT is at least twice as long. */
const DEFAULT_SHUTDOWN_DRAIN_MS = 5000;

/** Thrown for a bad environment value; the message names the variable. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const TRUE = ['true', '1', 'yes'];
const FALSE = ['false', '0', 'no'];
/** true/false, 1/0 or yes/no, in any case ("False", "TRUE"), spaces around ignored. */
const boolean = z.string().transform((v, ctx) => {
  const word = v.trim().toLowerCase();
  if (TRUE.includes(word)) return true;
  if (FALSE.includes(word)) return false;
  ctx.addIssue({ code: 'custom', message: 'must be true or false (or 1/0, yes/no)' });
  return z.NEVER;
});

/**
 * `.herald` in the checkout Herald runs from, wherever the command is run: `npx herald tenant
 * create …` from a subdirectory made a second data dir there, with its own database and admin
 * key, and printed a key the running Herald refused. A relative HERALD_DATA_DIR that is set is
 * taken from the working directory, as paths are.
 */
const DEFAULT_DATA_DIR = fileURLToPath(new URL('../.herald', import.meta.url));

/**
 * Before the default was the checkout's `.herald` it was `.herald` in the working directory: a
 * Herald run from elsewhere (a service's WorkingDirectory, a release copied to a new directory)
 * would start over silently — new database, admin key and encryption key. Returns the refusal,
 * naming both directories, when `<cwd>/.herald` holds a Herald's data (keys.json or
 * postgres.json) and `defaultDir` does not exist yet; null otherwise (a data dir a subdirectory
 * got by mistake is never named once the checkout has its own).
 */
export function movedDataDirProblem(defaultDir: string, cwd: string): string | null {
  const before = path.resolve(cwd, '.herald');
  if (before === defaultDir || existsSync(defaultDir)) return null;
  if (!['keys.json', 'postgres.json'].some((file) => existsSync(path.join(before, file)))) return null;
  return (
    `HERALD_DATA_DIR is unset: its default is now ${defaultDir} (the checkout's own, wherever Herald runs from), ` +
    `which does not exist, and ${before} holds a Herald's data (the default before). ` +
    `Set HERALD_DATA_DIR=${before} to keep using it, or move it to ${defaultDir}.`
  );
}

const duration = z.string().transform((v, ctx) => {
  // parseDuration reads a number alone as seconds; in a setting that was "30" meant as days
  // (HERALD_RETENTION=30 deleted everything older than 30 s): refused, but for 0.
  if (/^\s*\d+(\.\d+)?\s*$/.test(v) && Number(v) !== 0) {
    ctx.addIssue({ code: 'custom', message: `needs a unit: ms, s, m, h or d (e.g. "${v.trim()}s" or "${v.trim()}d")` });
    return z.NEVER;
  }
  try {
    return parseDuration(v);
  } catch (error) {
    // parseDuration's own words offer "a number of seconds", which a setting refuses (above).
    const unreadable = /^Invalid duration/.test((error as Error).message);
    const message = unreadable ? 'must be a number with a unit ms, s, m, h or d (e.g. "30s", "12h", "1500ms")' : (error as Error).message;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  }
});

/**
 * A duration of at least `minMs` (milliseconds), for settings where less breaks what they guard:
 * `why` says what, in the message (e.g. "must be at least 2s: …").
 */
function durationAtLeast(minMs: number, shown: string, why: string) {
  return duration.refine((ms) => ms >= minMs, { message: `must be at least ${shown}: ${why}` });
}

/**
 * A TCP port from `min` to 65535, digits only, leading zeros allowed (Number() alone would take " "
 * as 0 and "0x10" as 16);
 * every refusal gets the same message, saying the range the setting accepts and `note`.
 */
function port(min: 0 | 1, note: string) {
  const message = `must be a port number from ${min} to 65535 ${note}`;
  return z.string().transform((v, ctx) => {
    const n = /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (n >= min && n <= 65535) return n;
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  });
}
/** PORT and HERALD_OPS_PORT: 0 asks the system for a free port (tests, several processes on one host). */
const listenPort = port(0, '(0: any free port)');

const encryptionKey = z.string().transform((v, ctx) => {
  const key = Buffer.from(v, 'base64');
  if (key.length !== 32 || key.toString('base64').replace(/=+$/, '') !== v.replace(/=+$/, '')) {
    ctx.addIssue({ code: 'custom', message: 'must be 32 bytes encoded as base64 (e.g. `openssl rand -base64 32`)' });
    return z.NEVER;
  }
  return key;
});

/** A comma-separated list; `check` throws (with the message to show) when an item is bad. */
const list = (check: (items: string[]) => unknown) =>
  z.string().transform((v, ctx) => {
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    try {
      check(items);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
    return items;
  });

const cidrs = list(parseCidrs);
const trustedProxies = list((items) => proxyaddr.compile(items));

const count = (min: number) =>
  z.coerce.number({ error: 'must be a whole number' }).int('must be a whole number').min(min, `must be at least ${min}`);
/** Requests per second of a token bucket (fractions allowed); 0 turns that limit off. */
const rate = z.coerce.number({ error: 'must be a number (per second)' }).min(0, 'must be 0 (off) or more');

const publicUrl = z.string().transform((v, ctx) => {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL, e.g. https://herald.example.com' });
    return z.NEVER;
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password || url.search || url.hash) {
    ctx.addIssue({ code: 'custom', message: 'must be an http(s) URL without credentials, query or fragment' });
    return z.NEVER;
  }
  // Links are built by appending `/portal`: no trailing slash, whatever was written.
  return url.href.replace(/\/+$/, '');
});

/** A CSP host-source naming one origin: scheme, host (optionally `*.` for subdomains), port. */
const FRAME_ANCESTOR = /^https?:\/\/(\*\.)?([a-z0-9-]+\.)*[a-z0-9-]+(:\d{1,5})?$|^https?:\/\/\[[0-9a-f:.]+\](:\d{1,5})?$/i;

const frameAncestors = z.string().transform((v, ctx) => {
  const list = v.split(/[\s,]+/).filter(Boolean);
  const bad = list.find((origin) => !FRAME_ANCESTOR.test(origin));
  if (bad !== undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(bad)} is not an origin like https://app.example.com (scheme, host, optional port)`,
    });
    return z.NEVER;
  }
  return list;
});

const schema = z.object({
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/, error: 'must be a postgres:// URL' }).optional(),
  HERALD_DATA_DIR: z.string().min(1).default(DEFAULT_DATA_DIR),
  HERALD_PG_PORT: port(1, '(unset: a free one, chosen on first start and remembered in the data dir)').optional(),
  PORT: listenPort.default(4000),
  HOST: z.string().min(1).default('127.0.0.1'),
  HERALD_ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional(),
  HERALD_ENCRYPTION_KEY: encryptionKey.optional(),
  HERALD_ROLE: z.enum(ROLES, { error: ROLE_PROBLEM }).default('all'),
  HERALD_ALLOW_HTTP: boolean.default(false),
  HERALD_ALLOWED_CIDRS: cidrs.default([]),
  HERALD_DISABLE_AFTER: durationAtLeast(1000, '1s', 'a webhook is disabled after failing for this long').default(5 * 24 * 3600 * 1000),
  HERALD_EXHAUSTED_WINDOW: duration.default(60 * 1000),
  HERALD_RETENTION: durationAtLeast(3600 * 1000, '1h', 'attempts and events older than this are deleted').default(30 * 24 * 3600 * 1000),
  // Under a lease shorter than a request (a few renewals' worth), the lease lapsed mid-request and
  // another pass of the worker sent the same delivery again, every time.
  HERALD_LEASE: durationAtLeast(2000, '2s', 'a delivery whose lease lapses mid-request is sent again').default(30 * 1000),
  HERALD_DB_WAIT: duration.default(30 * 1000),
  HERALD_SHUTDOWN_TIMEOUT: duration.default(30 * 1000),
  HERALD_MAX_WEBHOOKS: count(1).default(100),
  HERALD_WORKER_CONCURRENCY: count(1).max(10000, 'must be at most 10000').default(200),
  HERALD_GRAPHIQL: boolean.default(true),
  HERALD_MAX_DEPTH: count(1).default(12),
  HERALD_MAX_ALIASES: count(0).default(30),
  HERALD_MAX_TOKENS: count(100).default(10_000),
  HERALD_MAX_COST: count(100).default(100_000),
  HERALD_MAX_REQUEST_BYTES: count(1024).default(16 * 1024 * 1024),
  HERALD_RATE_LIMIT: rate.default(100),
  HERALD_RATE_BURST: count(1).default(200),
  HERALD_ADMIN_RATE_LIMIT: rate.default(1000),
  HERALD_ADMIN_RATE_BURST: count(1).default(2000),
  HERALD_AUTH_FAILURE_RATE_LIMIT: rate.default(1),
  HERALD_AUTH_FAILURE_BURST: count(1).default(30),
  HERALD_TRUSTED_PROXIES: trustedProxies.default([]),
  HERALD_PUBLIC_URL: publicUrl.optional(),
  HERALD_PORTAL_FRAME_ANCESTORS: frameAncestors.default([]),
  HERALD_OPS_PORT: listenPort.optional(),
  // Default: 5 s, or half of HERALD_SHUTDOWN_TIMEOUT when that is shorter (see loadConfig).
  HERALD_SHUTDOWN_DRAIN: duration.optional(),
  HERALD_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  HERALD_DEFAULT_PROFILE: z.string().regex(PROFILE_NAME, 'must be a delivery profile name').default('standard'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

const SECRET_VARIABLES = new Set(['DATABASE_URL', 'HERALD_ADMIN_KEY', 'HERALD_ENCRYPTION_KEY', 'HERALD_METRICS_TOKEN']);

export type Role = (typeof ROLES)[number];

/** What one GraphQL request may ask for; over it the request is refused before it runs. */
export interface GraphQLLimits {
  /** Nesting of selections (introspection's `__schema` exempt, so GraphiQL works). */
  maxDepth: number;
  /** Aliased fields in one operation. */
  maxAliases: number;
  /** Lexical tokens in the document. */
  maxTokens: number;
  /** Estimated fields resolved: a connection's selection counts `first` times (see graphql/limits.ts). */
  maxCost: number;
  /** Bytes of an HTTP request body, and of one WebSocket message. */
  maxRequestBytes: number;
}

/** A token bucket: `rate` tokens a second (0 = no limit), holding at most `burst`. */
export interface RateLimit {
  rate: number;
  burst: number;
}

export interface RateLimits {
  /** Every request of a tenant, whichever of its keys it uses. */
  tenant: RateLimit;
  /** Requests with the admin key. */
  admin: RateLimit;
  /** Failed authentications from one client address. */
  authFailure: RateLimit;
}

export interface Config {
  databaseUrl: string | undefined;
  dataDir: string;
  /** The embedded PostgreSQL's port; unset: a free one, chosen on first start and remembered in the data dir. */
  embeddedPgPort: number | undefined;
  port: number;
  host: string;
  adminKey: string | undefined;
  encryptionKey: Buffer | undefined;
  role: Role;
  allowHttp: boolean;
  allowedCidrs: string[];
  disableAfterMs: number;
  /** After a webhook's first delivery.exhausted, how long further ones are folded into one follow-up. */
  exhaustedWindowMs: number;
  retentionMs: number;
  /** How long a worker holds a delivery without renewing; after a crash it is retried once this lapses. */
  leaseMs: number;
  /** How long to keep trying an external database (DATABASE_URL) that is not up yet at start. */
  dbWaitMs: number;
  /** The bound on a stop, from the signal to the exit, whatever the database does. */
  shutdownTimeoutMs: number;
  maxWebhooksPerTenant: number;
  workerConcurrency: number;
  /** The address browsers reach Herald at (portal links are built on it); unset: the listen address. */
  publicUrl: string | undefined;
  /** Origins allowed to embed the portal in an iframe (CSP frame-ancestors); empty: none. */
  portalFrameAncestors: string[];
  /** Port of /healthz, /readyz and /metrics in a process without the API (`--role worker`); null → `port`. */
  opsPort: number | null;
  /** After SIGTERM, how long /readyz answers 503 while the API keeps serving, before the process closes its port. */
  shutdownDrainMs: number;
  /** When set, /metrics requires `authorization: Bearer <token>`. */
  metricsToken: string | null;
  /** The delivery profile of webhooks whose own and whose tenant's name none. */
  defaultProfile: string;
  logLevel: string;
  /** GraphiQL in a browser at /graphql, and schema introspection. */
  graphiql: boolean;
  graphqlLimits: Readonly<GraphQLLimits>;
  rateLimits: Readonly<RateLimits>;
  /** Proxies whose X-Forwarded-For names the client (proxy-addr's trust list: CIDRs or `loopback`, …). */
  trustedProxies: string[];
}

/** The only reader of process.env. A bad value throws a ConfigError naming the variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  // An empty variable means "unset", as most deployment tools write them.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    // Every bad setting at once (one each), so that a start does not fail once per setting.
    const problems = new Map<string, string>();
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      // Keys and URLs with passwords end up in logs; the message names them without echoing them.
      const shown = SECRET_VARIABLES.has(name) ? '' : `=${JSON.stringify(env[name] ?? '')}`;
      if (!problems.has(name)) problems.set(name, `Invalid ${name}${shown}: ${issue.message}`);
    }
    throw new ConfigError([...problems.values()].join('; '));
  }
  const v = parsed.data;
  if (present.HERALD_DATA_DIR === undefined) {
    const moved = movedDataDirProblem(DEFAULT_DATA_DIR, process.cwd());
    if (moved) throw new ConfigError(moved);
  }
  if (v.HERALD_SHUTDOWN_DRAIN !== undefined && v.HERALD_SHUTDOWN_DRAIN > v.HERALD_SHUTDOWN_TIMEOUT / 2) {
    // The drain is taken from the timeout, and the worker needs the other half to finish the
    // attempts in flight: a longer drain cannot be honoured.
    const timeout = env.HERALD_SHUTDOWN_TIMEOUT
      ? `HERALD_SHUTDOWN_TIMEOUT=${JSON.stringify(env.HERALD_SHUTDOWN_TIMEOUT)}`
      : 'HERALD_SHUTDOWN_TIMEOUT (30s by default)';
    throw new ConfigError(
      `Invalid HERALD_SHUTDOWN_DRAIN=${JSON.stringify(env.HERALD_SHUTDOWN_DRAIN ?? '')}: must be at most half of ${timeout}, ` +
        `that is ${v.HERALD_SHUTDOWN_TIMEOUT / 2000} s: the drain is taken from the timeout and the rest of the stop needs the other half. ` +
        'Shorten HERALD_SHUTDOWN_DRAIN or raise HERALD_SHUTDOWN_TIMEOUT.',
    );
  }
  if (v.DATABASE_URL && !v.HERALD_ENCRYPTION_KEY) {
    throw new ConfigError('HERALD_ENCRYPTION_KEY is required when DATABASE_URL is set (32 bytes base64, e.g. `openssl rand -base64 32`)');
  }
  return Object.freeze({
    databaseUrl: v.DATABASE_URL,
    dataDir: v.HERALD_DATA_DIR,
    embeddedPgPort: v.HERALD_PG_PORT,
    port: v.PORT,
    host: v.HOST,
    adminKey: v.HERALD_ADMIN_KEY,
    encryptionKey: v.HERALD_ENCRYPTION_KEY,
    role: v.HERALD_ROLE,
    allowHttp: v.HERALD_ALLOW_HTTP,
    allowedCidrs: v.HERALD_ALLOWED_CIDRS,
    disableAfterMs: v.HERALD_DISABLE_AFTER,
    exhaustedWindowMs: v.HERALD_EXHAUSTED_WINDOW,
    retentionMs: v.HERALD_RETENTION,
    leaseMs: v.HERALD_LEASE,
    dbWaitMs: v.HERALD_DB_WAIT,
    shutdownTimeoutMs: v.HERALD_SHUTDOWN_TIMEOUT,
    maxWebhooksPerTenant: v.HERALD_MAX_WEBHOOKS,
    workerConcurrency: v.HERALD_WORKER_CONCURRENCY,
    publicUrl: v.HERALD_PUBLIC_URL,
    portalFrameAncestors: v.HERALD_PORTAL_FRAME_ANCESTORS,
    opsPort: v.HERALD_OPS_PORT ?? null,
    shutdownDrainMs: v.HERALD_SHUTDOWN_DRAIN ?? Math.min(DEFAULT_SHUTDOWN_DRAIN_MS, v.HERALD_SHUTDOWN_TIMEOUT / 2),
    metricsToken: v.HERALD_METRICS_TOKEN ?? null,
    defaultProfile: v.HERALD_DEFAULT_PROFILE,
    logLevel: v.LOG_LEVEL,
    graphiql: v.HERALD_GRAPHIQL,
    graphqlLimits: Object.freeze({
      maxDepth: v.HERALD_MAX_DEPTH,
      maxAliases: v.HERALD_MAX_ALIASES,
      maxTokens: v.HERALD_MAX_TOKENS,
      maxCost: v.HERALD_MAX_COST,
      maxRequestBytes: v.HERALD_MAX_REQUEST_BYTES,
    }),
    rateLimits: Object.freeze({
      tenant: { rate: v.HERALD_RATE_LIMIT, burst: v.HERALD_RATE_BURST },
      admin: { rate: v.HERALD_ADMIN_RATE_LIMIT, burst: v.HERALD_ADMIN_RATE_BURST },
      authFailure: { rate: v.HERALD_AUTH_FAILURE_RATE_LIMIT, burst: v.HERALD_AUTH_FAILURE_BURST },
    }),
    trustedProxies: v.HERALD_TRUSTED_PROXIES,
  });
}
