import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { type HeraldRun, runHerald } from '../helpers/process.ts';

let databaseUrl: string;
let encryptionKey: string;
let dataDir: string;
let emptyDir: string;
let h: TestHerald | undefined;
beforeAll(async () => {
  databaseUrl = await createTestDatabase();
  encryptionKey = randomBytes(32).toString('base64');
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-cli-'));
  emptyDir = await mkdtemp(path.join(os.tmpdir(), 'herald-cli-empty-'));
});
afterAll(async () => {
  await h?.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(emptyDir, { recursive: true, force: true });
});

/** Runs `node src/cli.ts …args` with only the given environment (plus PATH and a scratch data dir). */
function herald(args: string[], env: Record<string, string>, dir = dataDir): Promise<HeraldRun> {
  return runHerald(args, { HERALD_DATA_DIR: dir, ...env });
}

function databaseEnv() {
  return { DATABASE_URL: databaseUrl, HERALD_ENCRYPTION_KEY: encryptionKey };
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line.trim() !== '');
}

test('`tenant create acme` prints one JSON line whose key works against Herald on the same database', async () => {
  const run = await herald(['tenant', 'create', 'acme'], databaseEnv());
  expect(run.code, run.stderr).toBe(0);
  expect(lines(run.stdout)).toHaveLength(1);
  const printed = JSON.parse(run.stdout);
  expect(Object.keys(printed)).toEqual(['tenant', 'apiKey']);
  expect(printed.tenant).toEqual({ id: expect.stringMatching(/^ten_[0-9a-z]{26}$/), name: 'acme' });
  expect(printed.apiKey).toMatch(/^hrld_/);
  // No HERALD_ADMIN_KEY was given: one was generated into the data dir and shown once, on stderr.
  const { adminKey } = JSON.parse(await readFile(path.join(dataDir, 'keys.json'), 'utf8'));
  expect(run.stderr).toContain(`HERALD_ADMIN_KEY=${adminKey}`);

  h = await startTestHerald(databaseEnv());
  expect((await h.ok('{ tenant { id name } }', {}, printed.apiKey)).tenant).toEqual(printed.tenant);

  const keyRun = await herald(['api-key', 'create', '--tenant', printed.tenant.id], databaseEnv());
  expect(keyRun.code, keyRun.stderr).toBe(0);
  expect(lines(keyRun.stdout)).toHaveLength(1);
  const { apiKey, secret } = JSON.parse(keyRun.stdout);
  expect(apiKey).toMatchObject({ tenantId: printed.tenant.id, name: 'cli' });
  expect(secret.startsWith(apiKey.prefix)).toBe(true);
  expect(keyRun.stderr).not.toContain('HERALD_ADMIN_KEY');
  expect((await h.ok('{ tenant { id } }', {}, secret)).tenant.id).toBe(printed.tenant.id);
});

test('`api-key create` for an unknown tenant fails with a message and prints no key', async () => {
  const run = await herald(['api-key', 'create', '--tenant', 'ten_00000000000000000000000000'], databaseEnv());
  expect(run.code).not.toBe(0);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/ten_00000000000000000000000000/);
});

test('`api-key create` for a tenant that is not there: one plain line, exit 1', async () => {
  const run = await herald(['api-key', 'create', '--tenant', 'ten_nope'], databaseEnv());
  expect(run.code).toBe(1);
  expect(run.stdout).toBe('');
  expect(lines(run.stderr)).toEqual(['herald: Tenant ten_nope not found']);
});

test('`serve --role boss` names the flag, not HERALD_ROLE (exit 78, nothing started)', async () => {
  const run = await herald(['serve', '--role', 'boss'], {}, emptyDir);
  expect(run.code).toBe(78);
  expect(lines(run.stderr)).toEqual(['herald: Invalid --role "boss": must be all, api or worker']);
  expect(await readdir(emptyDir)).toEqual([]);
});

test.each([
  ['40s', {}, 'HERALD_SHUTDOWN_TIMEOUT (30s by default), that is 15 s'],
  ['6s', { HERALD_SHUTDOWN_TIMEOUT: '10s' }, 'HERALD_SHUTDOWN_TIMEOUT="10s", that is 5 s'],
])('HERALD_SHUTDOWN_DRAIN=%s over half the shutdown timeout is refused at start, naming both (exit 78)', async (drain, env, half) => {
  const run = await herald(['serve'], { HERALD_SHUTDOWN_DRAIN: drain, ...env }, emptyDir);
  expect(run.code).toBe(78);
  expect(run.stdout).toBe('');
  expect(lines(run.stderr)).toEqual([
    `herald: Invalid HERALD_SHUTDOWN_DRAIN="${drain}": must be at most half of ${half}: the drain is taken from the timeout and the rest of the stop needs the other half. Shorten HERALD_SHUTDOWN_DRAIN or raise HERALD_SHUTDOWN_TIMEOUT.`,
  ]);
  expect(await readdir(emptyDir)).toEqual([]);
});

test.each([
  [['bogus'], 'unknown command "bogus"'],
  [['tenant'], 'tenant needs a command: create'],
  [['api-key'], 'api-key needs a command: create'],
  [['tenant', 'delete', 'acme'], 'unknown command "tenant delete acme"'],
  [['migrate', 'now'], 'migrate takes options only, not "now"'],
  [['serve', 'serve'], 'serve takes options only, not "serve"'],
  [['tenant', 'create'], 'tenant create needs a name'],
  [['tenant', 'create', ''], 'tenant create needs a name'],
  [['tenant', 'create', 'acme', 'corp'], 'tenant create takes one name (quote a name with spaces)'],
  [['api-key', 'create'], 'api-key create needs --tenant <id>'],
  [['api-key', 'create', 'x', '--tenant', 't'], 'api-key create takes options only, not "x"'],
  // Node's parseArgs said this with advice about '--' and an unclosed quote.
  [['serve', '--port', '80'], 'unknown option "--port"'],
  [['serve', '--rol', 'worker'], 'unknown option "--rol"'],
  // Node's parseArgs words this one.
  [['--role'], /^Option '--role <value>' argument missing/],
])('`herald %j`: one line saying what is wrong, then the usage; exit 2, nothing started', async (args, problem) => {
  const run = await herald(args, databaseEnv(), emptyDir);
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  const [first, second] = lines(run.stderr);
  if (typeof problem === 'string') expect(first).toBe(`herald: ${problem}`);
  else expect(first.replace(/^herald: /, '')).toMatch(problem);
  expect(second).toBe('Usage:');
  expect(await readdir(emptyDir)).toEqual([]);
});

const SHORT_KEY = randomBytes(16).toString('base64');
const GOOD_KEY = randomBytes(32).toString('base64');

test.each([
  ['PORT', 'PORT=abc', { PORT: 'abc' }, null],
  ['HERALD_ROLE', 'HERALD_ROLE=foo', { HERALD_ROLE: 'foo' }, null],
  ['HERALD_ENCRYPTION_KEY', 'a 16-byte key', { HERALD_ENCRYPTION_KEY: SHORT_KEY }, SHORT_KEY],
  ['HERALD_ENCRYPTION_KEY', 'a key that is not base64', { HERALD_ENCRYPTION_KEY: 'not base64 at all!' }, 'not base64 at all!'],
  ['HERALD_ENCRYPTION_KEY', 'DATABASE_URL without it', { DATABASE_URL: 'postgres://localhost:1/nothing' }, null],
  ['DATABASE_URL', 'a mysql:// URL', { DATABASE_URL: 'mysql://herald:s3cret@localhost/x', HERALD_ENCRYPTION_KEY: GOOD_KEY }, 's3cret'],
  ['HERALD_ADMIN_KEY', 'a short admin key', { HERALD_ADMIN_KEY: 'short-s3cret' }, 'short-s3cret'],
  ['HERALD_PG_PORT', 'HERALD_PG_PORT=0', { HERALD_PG_PORT: '0' }, null],
  ['HERALD_DB_WAIT', 'HERALD_DB_WAIT=forever', { HERALD_DB_WAIT: 'forever' }, null],
  ['HERALD_SHUTDOWN_TIMEOUT', 'HERALD_SHUTDOWN_TIMEOUT=soon', { HERALD_SHUTDOWN_TIMEOUT: 'soon' }, null],
])('`serve` stops at once with one line naming %s (%s)', async (variable, _case, env, secret) => {
  const run = await herald(['serve'], env, emptyDir);
  expect(run.code).not.toBe(0);
  expect(run.ms).toBeLessThan(5000);
  expect(run.stdout).toBe('');
  expect(lines(run.stderr), run.stderr).toHaveLength(1);
  expect(run.stderr).toContain(variable);
  // A key or a password is named, never echoed.
  if (secret) expect(run.stderr).not.toContain(secret);
  // Nothing was started or written: the configuration is checked first.
  expect(await readdir(emptyDir)).toEqual([]);
});
