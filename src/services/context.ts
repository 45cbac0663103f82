import type { EntityManager } from '@mikro-orm/postgresql';
import type { PgBoss } from 'pg-boss';
import type { Config } from '../config.ts';
import type { Caller } from './caller.ts';

/** What a use case needs: a request-scoped EntityManager, who calls, the configuration and the job queue. */
export interface ServiceContext {
  em: EntityManager;
  caller: Caller;
  config: Readonly<Config>;
  /** The encryption key for secrets at rest (from config or the data dir). */
  encryptionKey: Buffer;
  /** pg-boss, for the wake-up jobs of deliveries (src/jobs/queue.ts). */
  boss: PgBoss;
}
