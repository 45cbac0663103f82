import { afterAll, beforeAll, expect, test } from 'vitest';
import { JOBS_LISTENER_APPLICATION_NAME } from '../../src/jobs/pg-boss-db.ts';
import { createTestDatabase, withPgClient } from '../helpers/db.ts';
import { waitUntil } from '../helpers/deliveries.ts';
import { startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { getJson } from '../helpers/ops.ts';
import { freePort } from '../helpers/process.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

let proxy: TcpProxy;
let databaseUrl: string;
let h: TestHerald;
let ops: string;

beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  const direct = new URL(databaseUrl);
  proxy = await startTcpProxy({ host: direct.hostname, port: Number(direct.port) });
  const proxied = new URL(databaseUrl);
  proxied.port = String(proxy.port);
  // Every connection Herald makes goes through the proxy, which can stop passing bytes.
  h = await startTestHerald({ DATABASE_URL: proxied.toString() });
  ops = h.herald.opsUrl;
});
afterAll(async () => {
  proxy?.thaw();
  await h?.stop();
  await proxy?.close();
});

const ALL_CHECKS = { database: 'ok', migrations: 'ok', worker: 'ok', queue: 'ok', live: 'ok' };

test('/healthz and /readyz answer on the API port without authentication; /readyz names every check', async () => {
  expect(ops).toBe(new URL(h.url).origin);
  expect(await getJson(`${ops}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
  const ready = await getJson(`${ops}/readyz`);
  expect(ready).toMatchObject({ status: 200, body: { status: 'ready', checks: ALL_CHECKS } });
  expect(Object.keys(ready.body.checks).sort()).toEqual(Object.keys(ALL_CHECKS).sort());
  // A bad key changes nothing: these endpoints do not read it.
  expect((await getJson(`${ops}/readyz`, { authorization: 'Bearer nonsense' })).status).toBe(200);
  expect((await fetch(`${ops}/healthz`, { method: 'HEAD' })).status).toBe(200);
  const post = await fetch(`${ops}/readyz`, { method: 'POST' });
  expect(post.status).toBe(405);
  expect(post.headers.get('allow')).toBe('GET, HEAD');
});

test('a migration this code knows of and the database lacks makes the process not ready; a newer one does not', async () => {
  await withPgClient(databaseUrl, async (db) => {
    const { rows } = await db.query<{ name: string }>('select name from mikro_orm_migrations order by name desc limit 1');
    const latest = rows[0].name;
    await db.query('delete from mikro_orm_migrations where name = $1', [latest]);
    try {
      expect(await getJson(`${ops}/readyz`)).toMatchObject({
        status: 503,
        body: { status: 'not ready', checks: { ...ALL_CHECKS, migrations: `1 pending: ${latest}` } },
      });
    } finally {
      await db.query('insert into mikro_orm_migrations (name) values ($1)', [latest]);
    }
    // A rolling deploy: a newer Herald has migrated the database further; this one still serves.
    await db.query(`insert into mikro_orm_migrations (name) values ('Migration29991231000000_from_a_newer_herald')`);
    try {
      expect(await getJson(`${ops}/readyz`)).toMatchObject({ status: 200, body: { checks: ALL_CHECKS } });
    } finally {
      await db.query(`delete from mikro_orm_migrations where name = 'Migration29991231000000_from_a_newer_herald'`);
    }
  });
});

test('a database that stops answering: /readyz says so within about 1 s, /healthz stays 200, ready again once it answers', {
  timeout: 60_000,
}, async () => {
  proxy.freeze();
  try {
    const answers = await Promise.all(
      [0, 100, 200, 300, 400].map(async (delay) => {
        await new Promise((resolve) => setTimeout(resolve, delay));
        return getJson(`${ops}/readyz`);
      }),
    );
    console.log(`hung database: /readyz answered in ${answers.map((a) => Math.round(a.ms)).join(', ')} ms`);
    for (const answer of answers) {
      expect(answer.status).toBe(503);
      expect(answer.body.checks).toMatchObject({ database: 'no answer within 900 ms', migrations: 'unknown: the database did not answer' });
      expect(answer.ms).toBeLessThan(1500);
    }
    const health = await getJson(`${ops}/healthz`);
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(500);
  } finally {
    proxy.thaw();
  }
  const thawedAt = Date.now();
  await expect
    .poll(async () => (await getJson(`${ops}/readyz`)).body, { timeout: 30_000, interval: 250 })
    .toMatchObject({
      status: 'ready',
    });
  console.log(`hung database: ready again ${Date.now() - thawedAt} ms after it answered`);
});

test('while Herald starts, /readyz answers 200 only once its API serves requests', { timeout: 60_000 }, async () => {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const starting = startTestHerald({ DATABASE_URL: databaseUrl, PORT: String(port) });
  const seen = new Set<string>();
  let graphqlWhenReady = 0;
  try {
    for (let done = false; !done; ) {
      const answer = await getJson(`${origin}/readyz`).catch(() => null);
      if (answer?.status === 503 && answer.body.checks?.live) seen.add(answer.body.checks.live);
      if (answer?.status === 200) {
        const graphql = await fetch(`${origin}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"query":"{ __typename }"}',
        });
        graphqlWhenReady = graphql.status;
        done = true;
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await (await starting).stop();
  }
  // Answered by the API (401 without a key), not the 503 of a port whose server has not started.
  expect(graphqlWhenReady).toBe(401);
  expect(seen).toContain('the API is starting');
});

test('a worker-only process serves /healthz, /readyz and /metrics on HERALD_OPS_PORT, and nothing else', async () => {
  const port = await freePort();
  const worker = await startTestHerald({ DATABASE_URL: databaseUrl, HERALD_ROLE: 'worker', HERALD_OPS_PORT: String(port) });
  try {
    expect(worker.herald.url).toBeNull();
    expect(worker.herald.opsUrl).toBe(`http://127.0.0.1:${port}`);
    expect(await getJson(`${worker.herald.opsUrl}/healthz`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await getJson(`${worker.herald.opsUrl}/readyz`);
    expect(ready).toMatchObject({ status: 200, body: { status: 'ready' } });
    expect(ready.body.checks).toEqual({ database: 'ok', migrations: 'ok', worker: 'ok', queue: 'ok' });
    expect((await fetch(`${worker.herald.opsUrl}/metrics`)).status).toBe(200);
    const graphql = await fetch(`${worker.herald.opsUrl}/graphql`, { method: 'POST', body: '{"query":"{ __typename }"}' });
    expect(graphql.status).toBe(404);
  } finally {
    await worker.stop();
  }
  // Stopped: the port is closed.
  await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
});

test('the LISTEN connection for job wake-ups dropped: not ready until it listens again', { timeout: 30_000 }, async () => {
  const terminated = await withPgClient(databaseUrl, async (db) => {
    const { rows } = await db.query<{ pid: number }>(
      'select pid from pg_stat_activity where application_name = $1 and datname = current_database()',
      [JOBS_LISTENER_APPLICATION_NAME],
    );
    // With a timeout, it returns once the backend has exited (and left pg_stat_activity).
    for (const { pid } of rows) await db.query('select pg_terminate_backend($1, 5000)', [pid]);
    return rows.length;
  });
  expect(terminated).toBe(1);
  // It listens again after a quarter of a second; until then the worker is woken only by polling.
  const down = await waitUntil(
    async () => {
      const answer = await getJson(`${ops}/readyz`);
      return answer.status === 503 ? answer : null;
    },
    { timeout: 1500, interval: 20, message: '/readyz to say the LISTEN connection is down' },
  );
  expect(down.body.checks).toEqual({ ...ALL_CHECKS, queue: 'the LISTEN connection for job wake-ups is down' });
  await expect.poll(async () => (await getJson(`${ops}/readyz`)).status, { timeout: 20_000, interval: 200 }).toBe(200);
});
