import { fileURLToPath } from 'node:url';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import type { Logger } from '../logger.ts';
import { entities } from '../entities/index.ts';

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
    // Requests and jobs each fork their own EntityManager; the global one must never be used.
    allowGlobalContext: false,
    // GraphQL resolvers load relations one parent at a time; the dataloader batches them
    // into one query per relation (no N+1).
    dataloader: true,
    debug: false,
    logger: (message) => options.logger?.debug({ orm: message }),
  });
}

/** Connects MikroORM; does not touch the schema (see migrate.ts). */
export async function initORM(clientUrl: string, options: { logger?: Logger; poolSize?: number } = {}): Promise<MikroORM> {
  return MikroORM.init(ormConfig(clientUrl, options));
}

export type { MikroORM };
