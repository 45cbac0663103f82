import type { EntityManager } from '@mikro-orm/postgresql';
import { FieldErrors, notFound } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { type ITenant, Tenant } from '../entities/Tenant.ts';
import { Webhook } from '../entities/Webhook.ts';
import { createApiKey } from './api-keys.ts';
import type { ServiceContext } from './context.ts';
import { currentDefinition, effectiveProfile, refitSecrets, tenantSecrets } from './profile-secrets.ts';
import { lockProfile } from './profiles.ts';

export interface TenantFields {
  name?: string | null;
  /** The delivery profile of its webhooks that name none; null: HERALD_DEFAULT_PROFILE. */
  profile?: string | null;
  /** The platform's own id for this customer (profiles may send it, e.g. Zavu's projectId); null clears it. */
  externalId?: string | null;
}

function validateName(errors: FieldErrors, name: string): string {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 200) errors.add('name', 'must be 1 to 200 characters');
  return trimmed;
}

function validateExternalId(errors: FieldErrors, externalId: string | null | undefined): void {
  if (externalId != null && (externalId.length === 0 || externalId.length > 200 || /[\r\n\t\0]/.test(externalId))) {
    errors.add('externalId', 'must be 1 to 200 characters, without line breaks, tabs or NUL');
  }
}

async function checkProfile(em: EntityManager, errors: FieldErrors, profile: string | null | undefined): Promise<void> {
  if (profile != null && !(await lockProfile(em, profile))) errors.add('profile', `no delivery profile is named "${profile}"`);
}

/** Creates a tenant with its first API key, in one transaction. */
export async function createTenant(
  em: EntityManager,
  input: { name: string } & Omit<TenantFields, 'name'>,
): Promise<{ tenant: ITenant; apiKey: string }> {
  const errors = new FieldErrors();
  const name = validateName(errors, input.name);
  validateExternalId(errors, input.externalId);
  return em.transactional(async (tx) => {
    await checkProfile(tx, errors, input.profile);
    errors.throwIfAny();
    const tenant = tx.create(Tenant, { id: newId('ten'), name, profile: input.profile ?? null, externalId: input.externalId ?? null });
    await tx.flush();
    const { secret } = await createApiKey(tx, tenant.id, 'default');
    return { tenant, apiKey: secret };
  });
}

/**
 * Changes a tenant (admin). A new profile applies to its webhooks that name none, from the next
 * event published; it is refused (VALIDATION_ERROR on `profile`) when one of them could not sign
 * under it — its secret is not in the profile's format, or the profile's secret is tenant-scoped
 * and several of them would have to share one they do not hold.
 */
export async function updateTenant(ctx: ServiceContext, id: string, input: TenantFields): Promise<ITenant> {
  return ctx.em.transactional(async (tx) => {
    const tenant = await tx.findOne(Tenant, { id });
    if (!tenant) throw notFound('Tenant', id);
    const errors = new FieldErrors();
    const name = input.name != null ? validateName(errors, input.name) : undefined;
    if (input.name === null) errors.add('name', 'cannot be null');
    validateExternalId(errors, input.externalId);
    if (input.profile !== undefined && input.profile !== (tenant.profile ?? null)) {
      await checkProfile(tx, errors, input.profile);
      if (!errors.list.length) await refitFollowers(ctx, tx, tenant.id, effectiveProfile(null, input.profile, ctx.config), errors);
      tenant.profile = input.profile;
    }
    errors.throwIfAny();
    if (name !== undefined) tenant.name = name;
    if (input.externalId !== undefined) tenant.externalId = input.externalId;
    return tenant;
  });
}

/** Checks that each webhook following the tenant's profile can sign under `profile`. */
async function refitFollowers(
  ctx: ServiceContext,
  tx: EntityManager,
  tenantId: string,
  profile: string,
  errors: FieldErrors,
): Promise<void> {
  const definition = await currentDefinition(tx, profile);
  if (!definition) return errors.add('profile', `no delivery profile is named "${profile}"`);
  if (!definition.signature) return;
  const followers = await tx.find(Webhook, { tenant: tenantId, profile: null, deletedAt: null }, { orderBy: { id: 'asc' } });
  if (definition.secret.scope === 'TENANT' && followers.length > 1 && !(await tenantSecrets(tx, tenantId, profile))) {
    return errors.add(
      'profile',
      `profile "${profile}" signs all of a tenant's webhooks with one secret, but ${followers.length} webhooks have their own: move them one by one with updateWebhook(profile, secret)`,
    );
  }
  for (const webhook of followers) {
    await refitSecrets(ctx, tx, { tenantId, webhook, profile, definition, imported: null }, errors);
  }
}
