import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { getJson } from '../helpers/ops.ts';
import { type RestartablePostgres, startRestartablePostgres } from '../helpers/restartable-postgres.ts';

let pg: RestartablePostgres;
let h: TestHerald | null = null;

beforeAll(async () => {
  pg = await startRestartablePostgres('herald-ops-restart');
  h = await startTestHerald({ DATABASE_URL: pg.url });
});
afterAll(async () => {
  await Promise.race([h?.stop(), sleep(20_000)]);
  await pg?.dispose();
});

test('PostgreSQL stopped and started again: /readyz 503 naming the database while it is down, 200 again after, Herald not restarted; /healthz 200 throughout', {
  timeout: 90_000,
}, async () => {
  const ops = h!.herald.opsUrl;
  expect(await getJson(`${ops}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready' } });

  await pg.stop();
  const stoppedAt = Date.now();
  const down: { status: number; body: any; ms: number }[] = [];
  while (Date.now() - stoppedAt < 3000) {
    down.push(await getJson(`${ops}/readyz`));
    const health = await getJson(`${ops}/healthz`);
    expect(health.status).toBe(200);
    await sleep(200);
  }
  expect(down.at(-1)!.body.checks.database).toBe('unreachable (ECONNREFUSED)');
  for (const answer of down) {
    expect(answer.status).toBe(503);
    expect(answer.body.status).toBe('not ready');
    expect(answer.body.checks.database).not.toBe('ok');
    // No key is needed for /readyz: it does not tell the database's address.
    expect(JSON.stringify(answer.body)).not.toContain(String(pg.port));
    expect(answer.ms).toBeLessThan(1500);
  }
  console.log(
    `postgres down: /readyz said ${JSON.stringify(down[0].body.checks)} (slowest answer ${Math.round(Math.max(...down.map((d) => d.ms)))} ms)`,
  );

  await pg.start();
  const upAt = Date.now();
  let last: any = null;
  await expect
    .poll(
      async () => {
        last = await getJson(`${ops}/readyz`);
        return last.status;
      },
      { timeout: 60_000, interval: 250 },
    )
    .toBe(200);
  console.log(`postgres back: ready again after ${Date.now() - upAt} ms (${JSON.stringify(last.body.checks)})`);
  expect(last.body.checks).toEqual({ database: 'ok', migrations: 'ok', worker: 'ok', queue: 'ok', live: 'ok' });
});
