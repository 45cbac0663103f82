// Which profile a webhook signs under, and whose secret it signs with: its own (per-webhook
// profiles) or its tenant's (tenant-scoped profiles, one secret for all of a tenant's webhooks).
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Config } from '../config.ts';
import type { FieldErrors } from '../core/errors.ts';
import type { ProfileDefinition } from '../core/profiles/definition.ts';
import { activeSecrets, decryptSecret, encryptSecret, generateSecret, secretFormatError } from '../core/secrets.ts';
import { rawQuery } from '../db/raw-query.ts';
import type { StoredSecret } from '../entities/Webhook.ts';
import type { ServiceContext } from './context.ts';
import { currentVersions } from './profiles.ts';

/** The profile that applies: the webhook's own, else its tenant's, else HERALD_DEFAULT_PROFILE. */
export function effectiveProfile(
  own: string | null | undefined,
  tenantProfile: string | null | undefined,
  config: Readonly<Config>,
): string {
  return own ?? tenantProfile ?? config.defaultProfile;
}

/** The definition new events of a profile are published with; null when there is no such profile. */
export async function currentDefinition(em: EntityManager, name: string): Promise<ProfileDefinition | null> {
  return (await currentVersions(em, [name])).get(name)?.version.definition ?? null;
}

/** The tenant's own delivery profile; null when it names none (or there is no such tenant). */
export async function tenantProfile(em: EntityManager, tenantId: string): Promise<string | null> {
  const [row] = await rawQuery<{ profile: string | null }>(em, 'select profile from tenant where id = $1', [tenantId]);
  return row?.profile ?? null;
}

/** A secret as stored: encrypted, signing until `expiresAt` (null: until the next rotation). */
export function storedSecret(ctx: ServiceContext, secret: string, now = new Date(), expiresAt: string | null = null): StoredSecret {
  return { encrypted: encryptSecret(secret, ctx.encryptionKey), createdAt: now.toISOString(), expiresAt };
}

/** Adds an error to `errors` if an imported secret does not fit the profile's secret format. */
export function checkImportedSecret(
  errors: FieldErrors,
  definition: ProfileDefinition,
  secret: string | null | undefined,
  profile: string,
): void {
  if (secret == null) return;
  const problem = secretFormatError(definition.secret.format, secret);
  if (problem) errors.add('secret', `${problem} (the ${definition.secret.format} secrets of profile "${profile}")`);
}

/** A tenant's stored (encrypted) secrets under a tenant-scoped profile, newest first; null when it has none yet. */
export async function tenantSecrets(em: EntityManager, tenantId: string, profile: string): Promise<StoredSecret[] | null> {
  const [row] = await rawQuery<{ secrets: StoredSecret[] }>(em, 'select secrets from tenant_secret where tenant_id = $1 and profile = $2', [
    tenantId,
    profile,
  ]);
  return row?.secrets ?? null;
}

/**
 * Stores a tenant's first secret under a tenant-scoped profile; false if one already exists
 * (another request made it first), in which case nothing changes.
 */
export async function insertTenantSecret(em: EntityManager, tenantId: string, profile: string, secret: StoredSecret): Promise<boolean> {
  const rows = await rawQuery(
    em,
    `insert into tenant_secret (tenant_id, profile, secrets, created_at, updated_at) values ($1, $2, $3::jsonb, now(), now())
     on conflict do nothing returning 1`,
    [tenantId, profile, JSON.stringify([secret])],
  );
  return rows.length > 0;
}

/** Replaces a tenant's secrets under a tenant-scoped profile (a rotation); its row must exist (insertTenantSecret). */
export async function updateTenantSecrets(em: EntityManager, tenantId: string, profile: string, secrets: StoredSecret[]): Promise<void> {
  await rawQuery(em, 'update tenant_secret set secrets = $3::jsonb, updated_at = now() where tenant_id = $1 and profile = $2', [
    tenantId,
    profile,
    JSON.stringify(secrets),
  ]);
}

/**
 * The secret of a new webhook under `profile`: imported or generated in the profile's format.
 * Per-webhook: it is the webhook's own, shown once if the profile signs. Tenant-scoped: the
 * tenant's first webhook under the profile makes the tenant's secret (shown once); later ones
 * share it (nothing shown, and importing another is an error).
 */
export async function secretOfNewWebhook(
  ctx: ServiceContext,
  tx: EntityManager,
  input: { tenantId: string | null; profile: string; definition: ProfileDefinition; imported: string | null | undefined },
  errors: FieldErrors,
): Promise<{ own: StoredSecret[]; shown: string | null }> {
  const { definition, profile } = input;
  const secret = input.imported ?? generateSecret(definition.secret.format);
  const shown = definition.signature ? secret : null;
  // An operator webhook (no tenant) is never under a tenant-scoped profile (webhooks.ts refuses it).
  if (definition.secret.scope === 'WEBHOOK' || input.tenantId === null) return { own: [storedSecret(ctx, secret)], shown };
  if (await insertTenantSecret(tx, input.tenantId, profile, storedSecret(ctx, secret))) return { own: [], shown };
  if (input.imported != null) errors.add('secret', tenantHasSecret(profile));
  return { own: [], shown: null };
}

const tenantHasSecret = (profile: string) =>
  `the tenant already has a secret for profile "${profile}" (its secrets are tenant-scoped); rotateWebhookSecret changes it`;

/**
 * Makes a webhook whose profile changes able to sign under the new one, or says why it cannot
 * (in `errors`, on `profile`, or `secret` for an import). Returns the webhook's new own secrets
 * when they change. Per-webhook: an imported secret replaces the old ones at once; otherwise the
 * newest must fit the profile's format. Tenant-scoped: the tenant's secret is used; if the
 * tenant has none yet, the imported secret or the webhook's own (if it fits) becomes it.
 */
export async function refitSecrets(
  ctx: ServiceContext,
  tx: EntityManager,
  input: {
    /** null: an operator webhook, never under a tenant-scoped profile (webhooks.ts refuses it). */
    tenantId: string | null;
    webhook: { id: string; secrets: StoredSecret[] };
    profile: string;
    definition: ProfileDefinition;
    imported: string | null | undefined;
  },
  errors: FieldErrors,
): Promise<StoredSecret[] | undefined> {
  const { definition, profile, webhook, imported } = input;
  const now = new Date();
  if (definition.secret.scope === 'TENANT' && input.tenantId !== null) {
    if (await tenantSecrets(tx, input.tenantId, profile)) {
      if (imported != null) errors.add('secret', tenantHasSecret(profile));
      return undefined;
    }
    const seed = imported ?? fittingSecret(ctx, webhook.secrets, definition, now);
    if (seed === null) {
      errors.add(
        'profile',
        `profile "${profile}" signs with the tenant's ${definition.secret.format} secret, which does not exist yet: give one with \`secret\``,
      );
    } else if (!errors.list.length) {
      await insertTenantSecret(tx, input.tenantId, profile, storedSecret(ctx, seed, now));
    }
    return undefined;
  }
  if (imported != null) return [storedSecret(ctx, imported, now)];
  if (definition.signature && fittingSecret(ctx, webhook.secrets, definition, now) === null) {
    errors.add(
      'profile',
      `webhook ${webhook.id} has no ${definition.secret.format} secret, as profile "${profile}" needs: give one with \`secret\``,
    );
  }
  return undefined;
}

/** The newest live secret, decrypted, if it is in the profile's format. */
function fittingSecret(ctx: ServiceContext, secrets: StoredSecret[], definition: ProfileDefinition, now: Date): string | null {
  const [newest] = activeSecrets(secrets, now);
  if (!newest) return null;
  const plain = decryptSecret(newest.encrypted, ctx.encryptionKey);
  return secretFormatError(definition.secret.format, plain) === null ? plain : null;
}
