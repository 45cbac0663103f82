import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound, validationError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { generateApiKey, hashApiKey, isPortalToken, safeEqual } from '../core/secrets.ts';
import { rawQuery } from '../db/raw-query.ts';
import { ApiKey, type IApiKey } from '../entities/ApiKey.ts';
import { notifyLive } from '../live/messages.ts';
import { type Caller, tenantScope } from './caller.ts';
import { authenticatePortalToken } from './portal-sessions.ts';

/** Refresh `lastUsedAt` at most this often, so authenticating is not a write per request. */
const LAST_USED_RESOLUTION_MS = 60_000;

export async function createApiKey(em: EntityManager, tenantId: string, name: string): Promise<{ apiKey: IApiKey; secret: string }> {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200) {
    throw validationError([{ field: 'name', message: 'must be 1 to 200 characters' }]);
  }
  const { secret, prefix, hash } = generateApiKey();
  const apiKey = em.create(ApiKey, { id: newId('key'), tenant: tenantId, name: trimmed, prefix, keyHash: hash });
  await em.flush();
  return { apiKey, secret };
}

/**
 * Revokes an API key: requests with it are refused from now on, and every API process ends the
 * subscriptions and connections it opened (announced with NOTIFY when this commits; see
 * live/credentials.ts). Revoking a revoked key changes nothing and announces it again.
 */
export async function revokeApiKey(em: EntityManager, caller: Caller, id: string): Promise<IApiKey> {
  const apiKey = await em.findOne(ApiKey, { id, ...tenantScope(caller) });
  if (!apiKey) throw notFound('ApiKey', id);
  await em.transactional(async (tx) => {
    apiKey.revokedAt ??= new Date();
    await tx.flush();
    await notifyLive((sql, params) => rawQuery(tx, sql, params), [{ kind: 'revoked', credentialId: apiKey.id }]);
  });
  return apiKey;
}

export async function listApiKeys(em: EntityManager, tenantId: string): Promise<IApiKey[]> {
  return em.find(ApiKey, { tenant: tenantId }, { orderBy: { id: 'desc' } });
}

/**
 * Resolves a bearer token to a caller, or null when it is unknown, revoked or expired: the
 * admin key, a tenant key (`hrld_…`) or a customer portal session token (`hrldp_…`).
 * Only the SHA-256 hash of a tenant key or session token is looked up; the admin key is
 * compared in constant time.
 */
export async function authenticate(em: EntityManager, token: string, adminKey: string): Promise<Caller | null> {
  if (safeEqual(token, adminKey)) return { kind: 'admin' };
  if (isPortalToken(token)) return authenticatePortalToken(em, token);
  if (!token.startsWith('hrld_')) return null;
  // Every request comes here: plain SQL, no entity to hydrate.
  const [apiKey] = await rawQuery<{ id: string; tenant_id: string; last_used_at: Date | string | null }>(
    em,
    'select id, tenant_id, last_used_at from api_key where key_hash = $1 and revoked_at is null',
    [hashApiKey(token)],
  );
  if (!apiKey) return null;
  const now = Date.now();
  if (!apiKey.last_used_at || now - new Date(apiKey.last_used_at).getTime() > LAST_USED_RESOLUTION_MS) {
    await rawQuery(em, 'update api_key set last_used_at = $2 where id = $1', [apiKey.id, new Date(now)]);
  }
  return { kind: 'tenant', tenantId: apiKey.tenant_id, apiKeyId: apiKey.id };
}
