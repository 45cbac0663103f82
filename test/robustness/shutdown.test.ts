import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { removeDataDir } from '../helpers/data-dir.ts';
import { countByStatus, deliveryRows, waitAllSucceeded } from '../helpers/db.ts';
import { createWebhook, publishMany } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { startPgProxy } from '../helpers/pg-proxy.ts';
import { childEnv, cpuSeconds, freePort, type HeraldProcess, problems, startHeraldProcess } from '../helpers/process.ts';
import { holdingHandler, type Receiver, startReceiver, webhookIds } from '../helpers/receiver.ts';

// Herald's own PostgreSQL, which these tests stop and start again under it.
let dir: string;
let pgOptions: Parameters<typeof startEmbeddedPostgres>[0];
let pg: EmbeddedDatabase | null = null;
let api: TestHerald | null = null;
const receivers: Receiver[] = [];
const processes: HeraldProcess[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'herald-shutdown-'));
  pgOptions = { dir: path.join(dir, 'pg'), port: await freePort(), password: 'herald-shutdown', logger: createLogger('warn') };
  pg = await startEmbeddedPostgres(pgOptions);
  api = await startTestHerald({ DATABASE_URL: pg.url, HERALD_ROLE: 'api', HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
});
afterAll(async () => {
  await Promise.all(processes.map((p) => p.dispose()));
  await Promise.race([api?.stop(), sleep(20_000)]);
  await pg?.stop();
  await Promise.all(receivers.map((r) => r.close()));
  await removeDataDir(dir);
});

/** A tenant and a receiver that holds every request until told to answer. */
async function heldEndpoint(tenantName: string) {
  const hold = holdingHandler();
  const receiver = await startReceiver({ handler: hold.handler });
  receivers.push(receiver);
  return { hold, receiver, tenant: await createTenant(api!, tenantName) };
}

/** Stops a worker a test no longer needs, so that the next test's deliveries are not its. */
async function stopProcess(child: HeraldProcess): Promise<void> {
  child.kill('SIGTERM');
  expect(await child.exited).toBe(0);
}

/** What a stopping process did: its exit code, how long it took and how much CPU it used meanwhile. */
async function stopAndMeasure(child: HeraldProcess, during: () => Promise<void> = async () => {}) {
  const pid = child.proc.pid!;
  const signalledAt = Date.now();
  let cpu = cpuSeconds(pid);
  let cpuAt = signalledAt;
  let lastCpu = cpu;
  let lastAt = signalledAt;
  // Sampled until it is gone: /proc no longer has it once it has exited.
  const sampler = setInterval(() => {
    const now = cpuSeconds(pid);
    if (now > 0) {
      lastCpu = now;
      lastAt = Date.now();
    }
  }, 100);
  child.kill('SIGTERM');
  await during();
  const code = await Promise.race([child.exited, sleep(30_000).then(() => 'still running 30 s after SIGTERM')]);
  clearInterval(sampler);
  const exitMs = Date.now() - signalledAt;
  ({ cpu, cpuAt } = { cpu: lastCpu - cpu, cpuAt: lastAt - cpuAt });
  return { code, exitMs, cpuShare: cpuAt > 0 ? cpu / (cpuAt / 1000) : 0, cpuSeconds: cpu };
}

test('SIGTERM with 300 deliveries in flight while its own PostgreSQL is stopped: exits 1 within HERALD_SHUTDOWN_TIMEOUT without spinning, saying how many were left to their lease; they are sent again', {
  timeout: 120_000,
}, async () => {
  const { hold, receiver, tenant } = await heldEndpoint('db-gone');
  for (let i = 0; i < 3; i++)
    await createWebhook(api!, tenant.key, { url: `${receiver.url}/hook-${i}`, maxInFlight: 100, timeoutMs: 20_000 });

  const env = { HERALD_SHUTDOWN_TIMEOUT: '6s', HERALD_LEASE: '4s', HERALD_WORKER_CONCURRENCY: '400' };
  const worker = await startHeraldProcess({ role: 'worker', env: childEnv(api!, env) });
  processes.push(worker);
  const eventIds = await publishMany(api!, tenant.key, 100);
  await receiver.waitFor(300, 20_000);
  expect(hold.held).toBe(300);

  // PostgreSQL goes away a moment after the signal (docker compose down, a node drain); the
  // endpoints answer once it has, so the 300 attempts complete but cannot be recorded.
  const stop = await stopAndMeasure(worker, async () => {
    await sleep(100);
    await pg!.stop();
    pg = null;
    hold.answerAll();
  });
  console.log(
    `shutdown, database gone: exit ${stop.code} after ${stop.exitMs} ms, ${stop.cpuSeconds.toFixed(2)} CPU s (${Math.round(stop.cpuShare * 100)} % of a core) while stopping`,
  );
  expect(stop.code, worker.stderr.join('\n')).toBe(1);
  expect(stop.exitMs).toBeLessThan(6000 + 1500);
  // No busy loop while the database is away (a spinning process takes a whole core).
  expect(stop.cpuShare).toBeLessThan(0.25);
  expect(worker.stderr).toEqual([
    'herald: stopped, but 300 deliveries were neither recorded nor released (the database could not be reached): they stay leased until HERALD_LEASE (4 s) lapses, then are sent again.',
  ]);

  // They are still leased to the stopped worker, unrecorded; once the lease lapses another worker sends them again.
  pg = await startEmbeddedPostgres(pgOptions);
  const rows = await deliveryRows(api!.databaseUrl);
  expect(countByStatus(rows)).toEqual({ PENDING: 300 });
  expect(rows.filter((r) => r.locked_by === null || r.attempt_count !== 0)).toEqual([]);
  const next = await startHeraldProcess({ role: 'worker', env: childEnv(api!, env) });
  processes.push(next);
  await waitAllSucceeded(api!.databaseUrl, 300, 30_000, () => problems(next.lines));
  expect(webhookIds(receiver)).toEqual(new Set(eventIds));
  expect(receiver.requests).toHaveLength(600);
  await stopProcess(next);
});

test('SIGTERM while requests hang past HERALD_SHUTDOWN_TIMEOUT (PostgreSQL up): they are ended and released, exit 0, and the next worker sends them at once', {
  timeout: 60_000,
}, async () => {
  const { hold, receiver, tenant } = await heldEndpoint('hanging');
  await createWebhook(api!, tenant.key, { url: `${receiver.url}/hook`, maxInFlight: 20, timeoutMs: 30_000 });

  const worker = await startHeraldProcess({ role: 'worker', env: childEnv(api!, { HERALD_SHUTDOWN_TIMEOUT: '3s' }) });
  processes.push(worker);
  const eventIds = await publishMany(api!, tenant.key, 20);
  await receiver.waitFor(20, 15_000);

  const stop = await stopAndMeasure(worker);
  console.log(`shutdown, requests hanging: exit ${stop.code} after ${stop.exitMs} ms`);
  expect(stop.code, problems(worker.lines)).toBe(0);
  expect(stop.exitMs).toBeGreaterThan(2000); // the attempts had until shortly before the timeout
  expect(stop.exitMs).toBeLessThan(3000 + 1500);
  expect(worker.stderr).toEqual([]);
  const rows = await deliveryRows(api!.databaseUrl);
  expect(rows.filter((r) => eventIds.includes(r.event_id)).map((r) => [r.status, r.attempt_count, r.locked_by])).toEqual(
    eventIds.map(() => ['PENDING', 0, null]),
  );

  // Released with a wake-up job: the next worker starts on them at once, not after a lease.
  hold.answerAll();
  const next = await startHeraldProcess({ role: 'worker', env: childEnv(api!) });
  processes.push(next);
  const startedAt = Date.now();
  await expect
    .poll(async () => countByStatus((await deliveryRows(api!.databaseUrl)).filter((r) => eventIds.includes(r.event_id))), {
      timeout: 10_000,
    })
    .toEqual({ SUCCEEDED: 20 });
  expect(Date.now() - startedAt).toBeLessThan(10_000);
  await stopProcess(next);
});

test('an idle Herald whose PostgreSQL ends each connection as Herald closes it ("terminating connection due to administrator command") stops with exit 0 and no stack trace', {
  timeout: 60_000,
}, async () => {
  const upstream = new URL(api!.databaseUrl);
  const proxy = await startPgProxy({ host: upstream.hostname, port: Number(upstream.port) });
  try {
    const viaProxy = new URL(api!.databaseUrl);
    viaProxy.port = String(proxy.port);
    const herald = await startHeraldProcess({ role: 'all', env: { ...childEnv(api!), DATABASE_URL: viaProxy.toString() } });
    processes.push(herald);
    proxy.terminateOnClose();
    const stop = await stopAndMeasure(herald);
    expect(stop.code, herald.stderr.join('\n')).toBe(0);
    expect(herald.stderr).toEqual([]);
    expect(herald.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
  } finally {
    await proxy.close();
  }
});
