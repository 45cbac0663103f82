import type { Pool } from 'pg';
import { compiledBuiltIn } from '../../core/profiles/builtins.ts';
import type { ProfileDefinition } from '../../core/profiles/definition.ts';
import type { CompiledProfile, TenantFields } from '../../core/profiles/render.ts';
import { compiledVersion, knownVersion } from '../../core/profiles/versions.ts';
import type { StoredSecret } from '../../entities/Webhook.ts';

/**
 * What a claimed batch's deliveries under operator-defined profiles need beyond the claim. The
 * built-ins need none of it: their version is their name (core/profiles/builtins.ts) and their
 * body is the event's envelope, which the claim reads.
 */
export interface ProfileMaterial {
  /** Compiled operator-defined versions by id (`dpv_…`). */
  versions: ReadonlyMap<string, CompiledProfile>;
  /** Rendered bodies (or the error that stopped them) by `${eventId} ${versionId}`. */
  bodies: ReadonlyMap<string, { body: string | null; error: string | null }>;
  /** Tenants, for header expressions (`tenant.name`, `tenant.externalId`). */
  tenants: ReadonlyMap<string, TenantFields>;
  /** Tenant-scoped secrets (encrypted) by `${tenantId} ${versionId}`. */
  tenantSecrets: ReadonlyMap<string, StoredSecret[]>;
}

/** The material of a batch whose deliveries are all under built-in profiles: shared, never written. */
export const NO_PROFILE_MATERIAL: ProfileMaterial = Object.freeze({
  versions: new Map(),
  bodies: new Map(),
  tenants: new Map(),
  tenantSecrets: new Map(),
});

export const materialKey = (id: string, versionId: string) => `${id} ${versionId}`;

/**
 * The tenant profile expressions see for a delivery (`tenant`, `tenantId`): its own; for a
 * delivery to an operator webhook (no tenant), the tenant its operational event is about, as its
 * envelope names it — so its body, rendered at publish, and its headers agree — or none (a test).
 */
export function expressionTenantId(delivery: { tenantId: string | null; payload: string }): string | null {
  if (delivery.tenantId !== null) return delivery.tenantId;
  return (JSON.parse(delivery.payload) as { tenantId?: string | null }).tenantId ?? null;
}

/**
 * Reads, in one round trip, the bodies, versions (only those this process has not compiled),
 * tenants and tenant-scoped secrets of claimed deliveries pinned to operator-defined profile
 * versions. A batch under built-in profiles only costs no query and no allocation.
 */
export async function loadProfileMaterial(
  pool: Pool,
  deliveries: readonly { eventId: string; tenantId: string | null; payload: string; profileVersion: string }[],
): Promise<ProfileMaterial> {
  if (deliveries.every((d) => compiledBuiltIn(d.profileVersion) !== undefined)) return NO_PROFILE_MATERIAL;
  const custom = deliveries.filter((d) => compiledBuiltIn(d.profileVersion) === undefined);
  const versions = new Map<string, CompiledProfile>();
  const missing: string[] = [];
  for (const id of new Set(custom.map((d) => d.profileVersion))) {
    const known = knownVersion(id);
    if (known) versions.set(id, known);
    else missing.push(id);
  }
  const { rows } = await pool.query<{
    bodies: { eventId: string; versionId: string; body: string | null; error: string | null }[];
    versions: { id: string; name: string; definition: ProfileDefinition }[];
    tenants: TenantFields[];
    secrets: { tenantId: string; versionId: string; secrets: StoredSecret[] }[];
  }>(
    `with wanted as (select * from unnest($1::text[], $2::text[], $3::text[]) as w(event_id, version_id, tenant_id))
     select coalesce((select json_agg(json_build_object('eventId', b.event_id, 'versionId', b.profile_version, 'body', b.body, 'error', b.error))
                        from event_body b where (b.event_id, b.profile_version) in (select event_id, version_id from wanted)), '[]') as bodies,
            coalesce((select json_agg(json_build_object('id', v.id, 'name', v.profile, 'definition', v.definition))
                        from delivery_profile_version v where v.id = any($4::text[])), '[]') as versions,
            coalesce((select json_agg(json_build_object('id', t.id, 'name', t.name, 'externalId', t.external_id))
                        from tenant t where t.id = any($5::text[])), '[]') as tenants,
            coalesce((select json_agg(json_build_object('tenantId', s.tenant_id, 'versionId', v.id, 'secrets', s.secrets))
                        from (select distinct tenant_id, version_id from wanted) w
                        join delivery_profile_version v on v.id = w.version_id
                        join tenant_secret s on s.tenant_id = w.tenant_id and s.profile = v.profile), '[]') as secrets`,
    [
      custom.map((d) => d.eventId),
      custom.map((d) => d.profileVersion),
      custom.map((d) => d.tenantId),
      missing,
      [...new Set(custom.map(expressionTenantId))].filter((id) => id !== null),
    ],
  );
  for (const v of rows[0].versions) versions.set(v.id, compiledVersion(v));
  return {
    versions,
    bodies: new Map(rows[0].bodies.map((b) => [materialKey(b.eventId, b.versionId), b])),
    tenants: new Map(rows[0].tenants.map((t) => [t.id, t])),
    tenantSecrets: new Map(rows[0].secrets.map((s) => [materialKey(s.tenantId, s.versionId), s.secrets])),
  };
}
