import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../db/raw-query.ts';
import type { Credential } from '../live/credentials.ts';
import type { Caller } from './caller.ts';

/**
 * The credential a caller authenticated with, or null when it cannot be revoked (the admin key
 * comes from configuration). A portal session also ends at its expiry.
 */
export function credentialOf(caller: Caller): Credential | null {
  if (caller.kind === 'tenant') return { id: caller.apiKeyId };
  if (caller.kind === 'portal') return { id: caller.sessionId, expiresAt: caller.expiresAt };
  return null;
}

/** For each kind of credential, by its id prefix: the statement that keeps those still valid. */
const STILL_VALID: Record<string, string> = {
  key_: 'select id from api_key where id = any($1::text[]) and revoked_at is null',
  ps_: 'select id from portal_session where id = any($1::text[]) and revoked_at is null and expires_at > now()',
};

/**
 * Which of these credential ids are still valid: API keys (`key_…`) not revoked, portal sessions
 * (`ps_…`) neither revoked nor expired. One statement per kind, by primary key.
 */
export async function validCredentialIds(em: EntityManager, ids: string[]): Promise<Set<string>> {
  const valid = new Set<string>();
  for (const [prefix, sql] of Object.entries(STILL_VALID)) {
    const ofKind = ids.filter((id) => id.startsWith(prefix));
    if (ofKind.length === 0) continue;
    for (const row of await rawQuery<{ id: string }>(em, sql, [ofKind])) valid.add(row.id);
  }
  return valid;
}
