import type { EntityManager } from '@mikro-orm/postgresql';
import { HeraldError, notFound, validationError } from '../core/errors.ts';
import { Tenant } from '../entities/Tenant.ts';

/**
 * Who is calling: the platform's operators (admin key), one tenant (its API key), or one
 * tenant's customer portal session (its bearer token; `readOnly` sessions change nothing).
 */
export type Caller =
  | { kind: 'admin' }
  | { kind: 'tenant'; tenantId: string; apiKeyId: string }
  | { kind: 'portal'; tenantId: string; sessionId: string; readOnly: boolean; expiresAt: Date };

export function requireAdmin(caller: Caller): void {
  if (caller.kind !== 'admin') throw new HeraldError('FORBIDDEN', 'This operation needs the admin key');
}

/** The one tenant a tenant key or portal session is bound to; null for the admin key. */
export function callerTenantId(caller: Caller): string | null {
  return caller.kind === 'admin' ? null : caller.tenantId;
}

/**
 * The tenant an operation acts on. A tenant key or portal session always acts on its own
 * tenant (naming another one is NOT_FOUND, never FORBIDDEN); the admin key must name an
 * existing tenant.
 */
export async function resolveTenantId(em: EntityManager, caller: Caller, tenantId?: string | null): Promise<string> {
  if (caller.kind !== 'admin') {
    if (tenantId && tenantId !== caller.tenantId) throw notFound('Tenant', tenantId);
    return caller.tenantId;
  }
  if (!tenantId) throw validationError([{ field: 'tenantId', message: 'is required with the admin key' }]);
  const exists = await em.count(Tenant, { id: tenantId });
  if (!exists) throw notFound('Tenant', tenantId);
  return tenantId;
}

/** A filter that limits a lookup to the caller's tenant (admins see every tenant). */
export function tenantScope(caller: Caller): { tenant?: string } {
  return caller.kind === 'admin' ? {} : { tenant: caller.tenantId };
}
