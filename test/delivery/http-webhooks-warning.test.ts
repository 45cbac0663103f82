// Webhooks created with http:// URLs while HERALD_ALLOW_HTTP was on (the README's development
// run) fail every attempt with INVALID_URL once Herald is restarted without it: a delivering
// process says so at start, once.
import { randomBytes } from 'node:crypto';
import { afterAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { createWebhook, updateWebhook } from '../helpers/deliveries.ts';
import { createTenant, gqlClient } from '../helpers/herald.ts';
import { disposeAll, type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';

const started: HeraldProcess[] = [];
afterAll(() => disposeAll(started));

const TOKEN = `s3cret-${randomBytes(6).toString('hex')}`;

async function start(role: 'all' | 'api' | 'worker', env: Record<string, string>): Promise<HeraldProcess> {
  const p = await startHeraldProcess({ role, env, readyTimeoutMs: 60_000 });
  started.push(p);
  return p;
}

async function stop(p: HeraldProcess): Promise<void> {
  p.kill('SIGTERM');
  expect(await p.exited).toBe(0);
}

/** The log lines about http:// webhooks (parsed). */
function httpWarnings(p: HeraldProcess): Record<string, any>[] {
  return p.lines.filter((l) => l.includes('http:// URL')).map((l) => JSON.parse(l));
}

test('restarted without HERALD_ALLOW_HTTP, a delivering process warns once of its http:// webhooks (count, active count and a few ids, never the URLs); not with it, not in an API-only process, not once none is left', {
  timeout: 180_000,
}, async () => {
  const adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;
  const env = {
    DATABASE_URL: await createTestDatabase(),
    HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    HERALD_ADMIN_KEY: adminKey,
  };

  // A development run: http:// accepted. Four active http:// webhooks (one with a token in its
  // URL), one paused (it fails too once resumed), one deleted, one https://.
  const dev = await start('all', { ...env, HERALD_ALLOW_HTTP: 'true' });
  const api = gqlClient(dev.url!, adminKey);
  const { key } = await createTenant(api, 'dev');
  const first = await createWebhook(api, key, { url: `http://hooks.example.com/a?token=${TOKEN}` });
  const second = await createWebhook(api, key, { url: 'http://hooks.example.com/b' });
  const more = [
    await createWebhook(api, key, { url: 'http://hooks.example.com/c' }),
    await createWebhook(api, key, { url: 'http://hooks.example.com/d' }),
  ];
  const paused = await createWebhook(api, key, { url: 'http://hooks.example.com/paused' });
  await updateWebhook(api, key, paused.id, { status: 'PAUSED' });
  const deleted = await createWebhook(api, key, { url: 'http://hooks.example.com/deleted' });
  await api.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: deleted.id }, key);
  await createWebhook(api, key, { url: 'https://hooks.example.com/tls' });
  expect(httpWarnings(dev)).toEqual([]);
  await stop(dev);

  // `npm start` later: HERALD_ALLOW_HTTP off.
  const prod = await start('all', env);
  const warnings = httpWarnings(prod);
  expect(warnings, prod.lines.join('\n')).toHaveLength(1);
  const [warning] = warnings;
  // Three ids name a few of them, not all (ids sort by creation).
  const ids = [first.id, second.id, ...more.map((w) => w.id), paused.id].sort();
  expect(warning).toMatchObject({ level: 40, count: 5, active: 4, webhookIds: ids.slice(0, 3) });
  expect(warning.msg).toBe(
    '5 webhooks have http:// URLs (4 active): every attempt to them fails with INVALID_URL while HERALD_ALLOW_HTTP is off. ' +
      'Set HERALD_ALLOW_HTTP=true (local development only), or update their URLs to https://.',
  );
  const text = prod.lines.join('\n');
  expect(text).not.toContain(TOKEN);
  expect(text).not.toContain('hooks.example.com');

  // A worker process delivers too, and warns; an API-only process sends nothing, and does not.
  const [worker, apiOnly] = await Promise.all([start('worker', env), start('api', env)]);
  expect(httpWarnings(worker)).toMatchObject([{ level: 40, count: 5 }]);
  expect(httpWarnings(apiOnly)).toEqual([]);

  // Doing what the line says: once the URLs are https://, the next start says nothing.
  const prodApi = gqlClient(prod.url!, adminKey);
  await updateWebhook(prodApi, key, first.id, { url: 'https://hooks.example.com/a' });
  for (const w of [second, ...more, paused]) await updateWebhook(prodApi, key, w.id, { url: `https://hooks.example.com/${w.id}` });
  await Promise.all([stop(prod), stop(worker), stop(apiOnly)]);
  const fixed = await start('all', env);
  expect(httpWarnings(fixed), fixed.lines.join('\n')).toEqual([]);
  await stop(fixed);
});
