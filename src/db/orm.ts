import { fileURLToPath } from 'node:url';
import { Migrator } from '@mikro-orm/migrations';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import type { Pool, PoolClient } from 'pg';
import { entities } from '../entities/index.ts';
import type { Logger } from '../logger.ts';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));

export function ormConfig(clientUrl: string, options: { logger?: Logger; poolSize?: number } = {}): Options {
  return defineConfig({
    clientUrl,
    entities,
    extensions: [Migrator],
    // Node runs the TypeScript migration files directly (type stripping).
    preferTs: true,
    migrations: {
      path: MIGRATIONS_DIR,
      pathTs: MIGRATIONS_DIR,
      glob: '!(*.d).ts',
      emit: 'ts',
      snapshot: true,
      snapshotOnMigrate: false,
      silent: true,
      snapshotName: '.snapshot-herald',
    },
    pool: { min: 0, max: options.poolSize ?? 10 },
    driverOptions: { onPoolCreated: releaseBrokenConnections },
    // Requests and jobs each fork their own EntityManager; the global one must never be used.
    allowGlobalContext: false,
    // GraphQL resolvers load relations one parent at a time; the dataloader batches them
    // into one query per relation (no N+1).
    dataloader: true,
    debug: false,
    logger: (message) => options.logger?.debug({ orm: message }),
  });
}

/** How long the holder of a broken connection has to hand it back before the pool takes it. */
const BROKEN_CONNECTION_GRACE_MS = 1000;

/**
 * Kysely 0.29 does not release a transaction's connection when its COMMIT or ROLLBACK fails
 * (kysely-org/kysely#1990), which is what every transaction open while PostgreSQL restarts
 * does. Each such connection would stay checked out for ever: the pool shrinks until requests
 * wait for ever, and `orm.close()` never returns. So a connection that broke while checked
 * out, and is still out a moment later, is released with its error (pg-pool discards it);
 * the holder's own release, if it ever comes, does nothing.
 */
function releaseBrokenConnections(pool: Pool): void {
  const checkedOut = new Set<PoolClient>();
  pool.on('acquire', (client) => checkedOut.add(client));
  pool.on('release', (_err, client) => checkedOut.delete(client));
  pool.on('connect', (client) => {
    let broken = false;
    const onBroken = (err?: Error) => {
      if (broken) return;
      broken = true;
      setTimeout(() => {
        if (!checkedOut.delete(client)) return;
        const release = client.release;
        client.release = () => {};
        release(err ?? new Error('Connection ended'));
      }, BROKEN_CONNECTION_GRACE_MS).unref();
    };
    client.on('error', onBroken);
    client.on('end', () => onBroken());
  });
}

/** Connects MikroORM; does not touch the schema (see migrate.ts). */
export async function initORM(clientUrl: string, options: { logger?: Logger; poolSize?: number } = {}): Promise<MikroORM> {
  return MikroORM.init(ormConfig(clientUrl, options));
}

export type { MikroORM };
