import { randomBytes } from 'node:crypto';
import dns from 'node:dns/promises';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, test } from 'vitest';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../../src/db/embedded.ts';
import { createLogger } from '../../src/logger.ts';
import { removeDataDir } from '../helpers/data-dir.ts';
import { createTestDatabase } from '../helpers/db.ts';
import { createWebhook } from '../helpers/deliveries.ts';
import { createTenant, gqlClient } from '../helpers/herald.ts';
import { freePort, type HeraldProcess, runHerald, startHeraldProcess } from '../helpers/process.ts';

const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const keys = {
  HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
  HERALD_ADMIN_KEY: `hrld_admin_${randomBytes(12).toString('hex')}`,
};
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** stderr as lines, without blank ones. */
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

test('DATABASE_URL set and the database not up yet (compose, Kubernetes): Herald waits, then starts once it is', {
  timeout: 90_000,
}, async () => {
  const port = await freePort();
  // The `postgres` database: it exists as soon as the server accepts connections, as a
  // provisioned database does. (A database created after the server is up would make a moment
  // where Herald meets a server without it: an error it rightly does not wait out.)
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/postgres`;
  let herald: HeraldProcess | null = null;
  const starting = startHeraldProcess({
    role: 'all',
    env: { DATABASE_URL: url, HERALD_DB_WAIT: '60s', ...keys },
    readyTimeoutMs: 60_000,
  }).then((h) => {
    herald = h;
    return h;
  });
  cleanups.push(async () => (await starting.catch(() => null))?.dispose());

  // The database comes up a few seconds after Herald, on the address Herald was given.
  await new Promise((resolve) => setTimeout(resolve, 3000));
  expect(herald, 'Herald started before its database').toBeNull();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'herald-late-db-'));
  let db: EmbeddedDatabase | null = await startEmbeddedPostgres({
    dir: path.join(dir, 'pg'),
    port,
    password: PASSWORD,
    database: 'postgres',
    logger: createLogger('warn'),
  });
  cleanups.push(async () => {
    await db?.stop();
    await removeDataDir(dir);
  });

  const started = await starting;
  const waiting = started.lines.find((l) => l.includes('"msg":"waiting for the database (DATABASE_URL)"'));
  expect(waiting, started.lines.join('\n')).toBeDefined();
  expect(waiting).toContain(`"database":"127.0.0.1:${port}"`);
  expect(waiting).not.toContain(PASSWORD);
  await started.waitForLog(/"msg":"Herald started"/);
  started.kill('SIGTERM');
  expect(await started.exited).toBe(0);
  await db.stop();
  db = null;
});

test('nothing at DATABASE_URL for HERALD_DB_WAIT: one line naming the database, its host:port and setting (never the password), and what to check', async () => {
  const port = await freePort();
  const run = await runHerald(['serve'], {
    DATABASE_URL: `postgres://herald:${PASSWORD}@127.0.0.1:${port}/herald`,
    HERALD_DB_WAIT: '2s',
    ...keys,
  });
  expect(run.code).toBe(1);
  expect(run.ms).toBeGreaterThan(1500);
  expect(run.ms).toBeLessThan(10_000);
  expect(lines(run.stderr)).toHaveLength(1);
  expect(run.stderr).toMatch(
    new RegExp(
      `^herald: cannot connect to the database at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): connection refused \\(tried for [0-9.]+ s; HERALD_DB_WAIT sets how long\\)\\. Check that PostgreSQL is running there and listens on that address and port\\.\\n$`,
    ),
  );
  expect(run.stderr + run.stdout).not.toContain(PASSWORD);
});

test('a wrong password in DATABASE_URL fails at once (waiting cannot cure it), with one line naming the user and the setting', async () => {
  const url = new URL(await createTestDatabase());
  url.password = PASSWORD;
  const run = await runHerald(['serve'], { DATABASE_URL: url.toString(), HERALD_DB_WAIT: '60s', ...keys });
  expect(run.code).toBe(1);
  expect(run.ms).toBeLessThan(10_000);
  expect(lines(run.stderr)).toEqual([
    `herald: the database at 127.0.0.1:${url.port} (DATABASE_URL) refused user "${url.username}": password authentication failed for user "${url.username}". Check the user and password in DATABASE_URL (and pg_hba.conf on the server).`,
  ]);
});

test('PORT taken by another program: one line naming HOST and PORT, no stack trace', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
  const port = (blocker.address() as { port: number }).port;
  const run = await runHerald(['serve'], { DATABASE_URL: await createTestDatabase(), PORT: String(port), HOST: '127.0.0.1', ...keys });
  expect(run.code).toBe(1);
  expect(lines(run.stderr)).toEqual([
    `herald: cannot listen on 127.0.0.1:${port} (HOST, PORT): another program (another Herald?) listens there. Stop it, or choose another PORT.`,
  ]);
});

test('PORT taken: the start fails before the database is touched, with nothing logged as an error', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
  const port = (blocker.address() as { port: number }).port;
  // Nothing at DATABASE_URL: had Herald gone to its database first, it would wait there for 30 s.
  const run = await runHerald(['serve'], {
    DATABASE_URL: `postgres://herald:${PASSWORD}@127.0.0.1:${await freePort()}/herald`,
    HERALD_DB_WAIT: '30s',
    PORT: String(port),
    HOST: '127.0.0.1',
    ...keys,
  });
  expect(run.code).toBe(1);
  expect(run.ms).toBeLessThan(10_000);
  expect(lines(run.stderr)).toEqual([
    `herald: cannot listen on 127.0.0.1:${port} (HOST, PORT): another program (another Herald?) listens there. Stop it, or choose another PORT.`,
  ]);
  expect(run.stdout).not.toMatch(/waiting for the database|"level":(40|50)/);
});

test.each([
  ['all', '300.1.1.1'],
  ['worker', 'no-such-host.invalid'],
])('a HOST that is no address and resolves to nothing (--role %s, HOST=%s): one line naming HOST and its value', async (role, host) => {
  // Neither is an IP address, so both go to the resolver: where it answers, the name is not
  // found (a bad setting, exit 78); with no resolver to ask (no network) the lookup fails
  // with EAI_AGAIN or the like, and the name may be right (exit 1).
  const lookup = await dns.lookup(host).then(
    () => 'resolved',
    (error: NodeJS.ErrnoException) => error.code,
  );
  expect(lookup, `${host} resolves here`).not.toBe('resolved');
  const run = await runHerald(['serve', '--role', role], { DATABASE_URL: await createTestDatabase(), HOST: host, ...keys });
  if (lookup === 'ENOTFOUND') {
    expect(run.code).toBe(78);
    expect(lines(run.stderr)).toEqual([
      `herald: Invalid HOST="${host}": not an IP address, and no host name resolves to it (getaddrinfo ENOTFOUND). ` +
        'Set HOST to an address of this machine (127.0.0.1: this machine only; 0.0.0.0: all interfaces) or a name that resolves to one.',
    ]);
  } else {
    expect(run.code).toBe(1);
    expect(lines(run.stderr)).toEqual([
      `herald: cannot resolve HOST="${host}": ${lookup}. Check the resolver, or set HOST to an IP address.`,
    ]);
  }
  expect(run.stdout).not.toMatch(/"level":(50|60)/);
});

test('a HERALD_DATA_DIR that cannot be made: one line naming it', async () => {
  const run = await runHerald(['serve'], { HERALD_DATA_DIR: '/dev/null/herald', PORT: '0' });
  expect(run.code).toBe(1);
  expect(lines(run.stderr)).toEqual([
    'herald: cannot write the data dir /dev/null/herald (HERALD_DATA_DIR): ENOTDIR. Make it writable by this user, or point HERALD_DATA_DIR elsewhere.',
  ]);
});

test('another HERALD_ENCRYPTION_KEY than the stored secrets were made with: refused at start with one line naming it (exit 78), never a start whose deliveries cannot be signed', {
  timeout: 90_000,
}, async () => {
  const env = { DATABASE_URL: await createTestDatabase(), ...keys };
  // An empty database takes any key: nothing stored yet.
  const first = await startHeraldProcess({ role: 'all', env, readyTimeoutMs: 60_000 });
  cleanups.push(() => first.dispose());
  const api = gqlClient(first.url!, keys.HERALD_ADMIN_KEY);
  const tenant = await createTenant(api, 'keyed');
  const webhook = await createWebhook(api, tenant.key, { url: 'https://hooks.example.com/a' });
  first.kill('SIGTERM');
  expect(await first.exited).toBe(0);

  const otherKey = randomBytes(32).toString('base64');
  const run = await runHerald(['serve'], { ...env, HERALD_ENCRYPTION_KEY: otherKey }, { timeoutMs: 60_000 });
  expect(run.code).toBe(78);
  expect(lines(run.stderr)).toEqual([
    `herald: Invalid HERALD_ENCRYPTION_KEY: it does not decrypt the secrets stored in this database (${webhook.id}'s among them): they were made with another key. ` +
      'Start Herald with the key they were made with; with this one no delivery of theirs could be signed.',
  ]);
  expect(run.stderr).not.toContain(otherKey);
  expect(run.stderr).not.toContain(keys.HERALD_ENCRYPTION_KEY);

  // The key they were made with starts as before.
  const again = await startHeraldProcess({ role: 'all', env, readyTimeoutMs: 60_000 });
  cleanups.push(() => again.dispose());
  again.kill('SIGTERM');
  expect(await again.exited).toBe(0);
});
