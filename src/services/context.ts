import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config.ts';
import type { Caller } from './caller.ts';

/** What a use case needs: a request-scoped EntityManager, who calls, and the configuration. */
export interface ServiceContext {
  em: EntityManager;
  caller: Caller;
  config: Readonly<Config>;
  /** The encryption key for secrets at rest (from config or the data dir). */
  encryptionKey: Buffer;
}
