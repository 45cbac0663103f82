import { randomBytes } from 'node:crypto';
import { afterAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { sleep } from '../helpers/deliveries.ts';
import { type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';

const processes: HeraldProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.dispose()));
});

async function start(role: 'all' | 'worker', drain: string) {
  const adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
  const p = await startHeraldProcess({
    role,
    env: {
      DATABASE_URL: await createTestDatabase(),
      HERALD_ADMIN_KEY: adminKey,
      HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      HERALD_SHUTDOWN_DRAIN: drain,
    },
  });
  processes.push(p);
  const ops = role === 'worker' ? JSON.parse(await p.waitForLog(/"msg":"ops endpoints listening"/)).url : new URL(p.url!).origin;
  return { p, ops: ops as string, adminKey };
}

/** Status of GET url, or 'refused' when nothing listens any more. */
async function statusOf(url: string, init: RequestInit = {}): Promise<number | 'refused'> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 'refused';
  }
}

test('SIGTERM: /readyz turns 503 at once, the API keeps serving for HERALD_SHUTDOWN_DRAIN, then the port closes and the process exits 0', {
  timeout: 60_000,
}, async () => {
  const { p, ops, adminKey } = await start('all', '2s');
  expect(await statusOf(`${ops}/readyz`)).toBe(200);

  const signalledAt = Date.now();
  p.kill('SIGTERM');
  let notReadyAfter: number | null = null;
  let notReadyBody: any = null;
  while (notReadyAfter === null && Date.now() - signalledAt < 2000) {
    const res = await fetch(`${ops}/readyz`);
    if (res.status === 503) {
      notReadyAfter = Date.now() - signalledAt;
      notReadyBody = await res.json();
      // Keep-alive clients are asked to go elsewhere.
      expect(res.headers.get('connection')).toBe('close');
    } else {
      await res.arrayBuffer();
    }
  }
  expect(notReadyAfter, '/readyz turned 503').not.toBeNull();
  expect(notReadyAfter!).toBeLessThan(500);
  expect(notReadyBody).toMatchObject({ status: 'not ready', checks: { shutdown: 'shutting down', database: 'ok' } });

  // Still serving while the load balancer notices.
  await sleep(Math.max(0, signalledAt + 1000 - Date.now()));
  expect(await statusOf(`${ops}/healthz`)).toBe(200);
  const graphql = await statusOf(p.url!, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ query: '{ eventTypes { name } }' }),
  });
  expect(graphql).toBe(200);

  let closedAfter: number | null = null;
  while (closedAfter === null && Date.now() - signalledAt < 15_000) {
    if ((await statusOf(`${ops}/healthz`)) === 'refused') closedAfter = Date.now() - signalledAt;
    else await sleep(50);
  }
  const code = await p.exited;
  console.log(`drain: /readyz 503 after ${notReadyAfter} ms, port closed after ${closedAfter} ms, exit ${code}`);
  expect(closedAfter).not.toBeNull();
  expect(closedAfter!).toBeGreaterThanOrEqual(1900);
  expect(code).toBe(0);
  expect(p.lines.some((l) => l.includes('"msg":"draining: /readyz answers 503 while the API keeps serving"'))).toBe(true);
});

test('SIGTERM on a worker-only process: not ready at once and no drain wait (no load balancer sends it work)', {
  timeout: 60_000,
}, async () => {
  const { p, ops } = await start('worker', '5s');
  expect(await statusOf(`${ops}/readyz`)).toBe(200);
  const signalledAt = Date.now();
  p.kill('SIGTERM');
  const seen: { status: number | 'refused'; at: number }[] = [];
  while (Date.now() - signalledAt < 5000) {
    const sentAt = Date.now() - signalledAt;
    const status = await statusOf(`${ops}/readyz`);
    seen.push({ status, at: sentAt });
    if (status === 'refused') break;
    await sleep(20);
  }
  const code = await p.exited;
  const exitedAfter = Date.now() - signalledAt;
  console.log(`worker SIGTERM: /readyz answered ${JSON.stringify(seen)}, exited after ${exitedAfter} ms`);
  // A request sent as the signal was arriving may still be answered 200; none after.
  expect(seen.filter((s) => s.at > 100 && s.status === 200)).toEqual([]);
  expect(seen.at(-1)!.status).toBe('refused');
  expect(code).toBe(0);
  expect(exitedAfter).toBeLessThan(4000);
});
