import type { EntityManager } from '@mikro-orm/postgresql';
import { ConfigError } from '../config.ts';
import { decryptSecret } from '../core/secrets.ts';
import { rawQuery } from '../db/raw-query.ts';

/**
 * Throws a ConfigError when `key` does not open the secrets already stored: a key other than the
 * one they were made with (a fresh `openssl rand` in a new shell, another data dir's keys.json)
 * would let Herald start and every attempt of their webhooks fail to sign, the deliveries waiting
 * unseen with nothing in the API. Checked at start, once the database is migrated, on the newest
 * stored secret (a webhook's or a tenant's; ids are time-ordered); a database with none passes.
 * `source` says where the key came from (HERALD_ENCRYPTION_KEY, or the data dir's keys.json), for the message.
 */
export async function checkEncryptionKey(em: EntityManager, key: Buffer, source: string): Promise<void> {
  const [newest] = await rawQuery<{ owner: string; encrypted: string }>(
    em,
    `select owner, encrypted from (
       (select id as owner, secrets->0->>'encrypted' as encrypted, created_at from webhook
         where jsonb_array_length(secrets) > 0 order by id desc limit 1)
       union all
       (select 'tenant ' || tenant_id as owner, secrets->0->>'encrypted', created_at from tenant_secret
         where jsonb_array_length(secrets) > 0 order by created_at desc limit 1)
     ) stored order by created_at desc limit 1`,
  );
  if (!newest) return;
  try {
    decryptSecret(newest.encrypted, key);
  } catch {
    throw new ConfigError(
      `Invalid ${source}: it does not decrypt the secrets stored in this database (${newest.owner}'s among them): they were made with another key. ` +
        'Start Herald with the key they were made with; with this one no delivery of theirs could be signed.',
    );
  }
}
