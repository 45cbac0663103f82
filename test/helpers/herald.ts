import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { type RunningHerald, startHerald } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createTestDatabase, withPgClient } from './db.ts';
import { type Receiver, type ReceiverOptions, startReceiver } from './receiver.ts';

/** A GraphQL client of one Herald API; the key defaults to the admin key. */
export interface GqlClient {
  /** GraphQL URL (http://127.0.0.1:<port>/graphql). */
  url: string;
  adminKey: string;
  /** POSTs a GraphQL operation with `key` as bearer token; returns HTTP status and parsed body. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, key?: string | null): Promise<GqlResult<T>>;
  /** Like gql but throws when the answer has errors; returns `data`. */
  ok<T = any>(query: string, variables?: Record<string, unknown>, key?: string | null): Promise<T>;
}

export interface TestHerald extends GqlClient {
  herald: RunningHerald;
  databaseUrl: string;
  encryptionKey: string;
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface GqlResult<T> {
  status: number;
  data: T | null | undefined;
  errors: { message: string; extensions?: { code?: string; fields?: { field: string; message: string }[] } }[] | undefined;
}

/**
 * Starts a real Herald (API + worker unless HERALD_ROLE says otherwise) on a random port,
 * against a fresh database of the test PostgreSQL.
 */
export async function startTestHerald(env: Record<string, string> = {}, options: { ca?: string } = {}): Promise<TestHerald> {
  const databaseUrl = env.DATABASE_URL ?? (await createTestDatabase());
  const adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
  const encryptionKey = randomBytes(32).toString('base64');
  const fullEnv: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    HERALD_ADMIN_KEY: adminKey,
    HERALD_ENCRYPTION_KEY: encryptionKey,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  };
  const config = loadConfig(fullEnv);
  const herald = await startHerald(config, createLogger(config.logLevel), { ca: options.ca });
  return {
    ...gqlClient(herald.url ?? '', adminKey),
    herald,
    databaseUrl,
    encryptionKey: fullEnv.HERALD_ENCRYPTION_KEY,
    env: fullEnv,
    stop: async () => {
      await herald.stop();
    },
  };
}

/** A client of the Herald API at `url` (a test Herald, or a child process). */
export function gqlClient(url: string, adminKey: string): GqlClient {
  async function gql<T>(query: string, variables?: Record<string, unknown>, key: string | null = adminKey): Promise<GqlResult<T>> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json',
    };
    if (key) headers.authorization = `Bearer ${key}`;
    const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: T; errors?: GqlResult<T>['errors'] };
    return { status: res.status, data: body.data, errors: body.errors };
  }
  return {
    url,
    adminKey,
    gql,
    async ok<T>(query: string, variables?: Record<string, unknown>, key?: string | null) {
      const result = await gql<T>(query, variables, key === undefined ? adminKey : key);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data as T;
    },
  };
}

/** Lets Herald deliver to receivers on 127.0.0.1 over plain HTTP (tests only). */
export const LOCAL_RECEIVERS: Record<string, string> = { HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_ALLOW_HTTP: 'true' };

export interface Tenant {
  id: string;
  /** Its first API key. */
  key: string;
}

/** startTestHerald() with `env`, and a tenant of this test file's own. */
export async function startWithTenant(
  env: Record<string, string> = {},
  options: { ca?: string; tenant?: string } = {},
): Promise<{ h: TestHerald; tenant: Tenant }> {
  const h = await startTestHerald(env, { ca: options.ca });
  return { h, tenant: await createTenant(h, options.tenant) };
}

/**
 * A receiver on 127.0.0.1, a test Herald allowed to deliver to it (LOCAL_RECEIVERS, then `env`)
 * and a tenant of this test file's own. Stop them with stopAll(h, receiver).
 */
export async function startWithReceiver(
  options: { env?: Record<string, string>; receiver?: ReceiverOptions; ca?: string; tenant?: string } = {},
): Promise<{ h: TestHerald; tenant: Tenant; receiver: Receiver }> {
  const receiver = await startReceiver(options.receiver);
  const { h, tenant } = await startWithTenant({ ...LOCAL_RECEIVERS, ...options.env }, options);
  return { h, tenant, receiver };
}

/** Stops Herald(s) and closes receivers in the order given, skipping what never started. */
export async function stopAll(...things: ({ stop(): Promise<void> } | { close(): Promise<void> } | null | undefined)[]): Promise<void> {
  for (const thing of things) {
    if (!thing) continue;
    await ('stop' in thing ? thing.stop() : thing.close());
  }
}

/** Creates a tenant with the admin key; returns its id and first API key. Each test file makes its own. */
export async function createTenant(h: GqlClient, name = 'acme'): Promise<Tenant> {
  const data = await h.ok<{ createTenant: { tenant: { id: string }; apiKey: string } }>(
    'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } apiKey } }',
    { name },
  );
  return { id: data.createTenant.tenant.id, key: data.createTenant.apiKey };
}

/** The HTTP status DESIGN.md gives each error code. */
const STATUS: Record<string, number> = {
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 200,
  VALIDATION_ERROR: 422,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUERY_TOO_COMPLEX: 400,
  CSRF_REFUSED: 403,
};

/**
 * Asserts that an answer is exactly one error with `code` and the HTTP status of that code;
 * for VALIDATION_ERROR, that `extensions.fields` names `field`. Returns the error.
 */
export function expectError(result: Pick<GqlResult<unknown>, 'status' | 'errors'>, code: string, field?: string) {
  expect(
    result.errors?.map((e) => e.extensions?.code),
    JSON.stringify(result.errors),
  ).toEqual([code]);
  expect(result.status).toBe(STATUS[code]);
  const [error] = result.errors!;
  if (field !== undefined) expect(error.extensions?.fields?.map((f) => f.field)).toContain(field);
  return error;
}

/** Rows in the webhook table for a tenant (soft-deleted ones included): proof of what was stored. */
export async function countWebhookRows(h: TestHerald, tenantId: string): Promise<number> {
  return withPgClient(h.databaseUrl, async (client) => {
    const { rows } = await client.query('select count(*)::int as n from webhook where tenant_id = $1', [tenantId]);
    return rows[0].n as number;
  });
}
