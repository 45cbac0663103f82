import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../db/raw-query.ts';
import type { Credential } from '../live/credentials.ts';
import type { Caller } from './caller.ts';

/** The credential a caller authenticated with, or null when it cannot be revoked (the admin key comes from configuration). */
export function credentialOf(caller: Caller): Credential | null {
  return caller.kind === 'tenant' ? { id: caller.apiKeyId } : null;
}

/**
 * Which of these credential ids are still valid: API keys (`key_…`) not revoked. Another kind of
 * credential adds its own query here. One statement per kind, by primary key.
 */
export async function validCredentialIds(em: EntityManager, ids: string[]): Promise<Set<string>> {
  const keys = ids.filter((id) => id.startsWith('key_'));
  if (keys.length === 0) return new Set();
  const rows = await rawQuery<{ id: string }>(em, 'select id from api_key where id = any($1::text[]) and revoked_at is null', [keys]);
  return new Set(rows.map((r) => r.id));
}
