import type { EntityManager } from '@mikro-orm/postgresql';
import { validationError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { type ITenant, Tenant } from '../entities/Tenant.ts';
import { createApiKey } from './api-keys.ts';

/** Creates a tenant with its first API key, in one transaction. */
export async function createTenant(em: EntityManager, name: string): Promise<{ tenant: ITenant; apiKey: string }> {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200) {
    throw validationError([{ field: 'name', message: 'must be 1 to 200 characters' }]);
  }
  return em.transactional(async (tx) => {
    const tenant = tx.create(Tenant, { id: newId('ten'), name: trimmed });
    await tx.flush();
    const { secret } = await createApiKey(tx, tenant.id, 'default');
    return { tenant, apiKey: secret };
  });
}
