// Delivery profiles as the outbox writes under them: which version each webhook's deliveries are
// pinned to, and the bodies rendered once per (event, version). Shared by publishing (services/)
// and by the operational events the worker's recorder emits (delivery/), so that every delivery,
// whoever writes it, is pinned to its webhook's profile and renders the same way.
import type { Db } from 'pg-boss';
import { compiledBuiltIn } from '../core/profiles/builtins.ts';
import type { ProfileDefinition } from '../core/profiles/definition.ts';
import { type CompiledProfile, type EventFields, eventInput, type TenantFields, TransformError } from '../core/profiles/render.ts';
import { compiledVersion } from '../core/profiles/versions.ts';

/**
 * What a delivery is published under: a compiled current version, or the name of a profile that
 * does not exist (its deliveries fail with TRANSFORM).
 */
export type PublishProfile = CompiledProfile | string;

/** A row of event_body. */
export interface EventBodyRow {
  event_id: string;
  profile_version: string;
  body: string | null;
  error: string | null;
}

/**
 * The current version of each named profile that exists, compiled (each version once per
 * process): the built-ins without a query, the stored ones in one statement through `db`.
 */
export async function currentVersions(db: Db, names: Iterable<string>): Promise<Map<string, CompiledProfile>> {
  const found = new Map<string, CompiledProfile>();
  const stored: string[] = [];
  for (const name of new Set(names)) {
    const builtIn = compiledBuiltIn(name);
    if (builtIn) found.set(name, builtIn);
    else stored.push(name);
  }
  if (stored.length === 0) return found;
  const { rows } = await db.executeSql(
    'select p.name, p.version_id as id, v.definition from delivery_profile p join delivery_profile_version v on v.id = p.version_id where p.name = any($1)',
    [stored],
  );
  for (const row of rows as { name: string; id: string; definition: ProfileDefinition }[]) found.set(row.name, compiledVersion(row));
  return found;
}

/**
 * The profile each webhook's deliveries are published with, by webhook id: `profile` is the one
 * that applies to it (its own, else its tenant's), null for HERALD_DEFAULT_PROFILE (`defaultProfile`).
 */
export async function profilesOf(
  db: Db,
  webhooks: Iterable<{ id: string; profile: string | null }>,
  defaultProfile: string,
): Promise<Map<string, PublishProfile>> {
  const names = new Map<string, string>();
  for (const w of webhooks) names.set(w.id, w.profile ?? defaultProfile);
  const versions = await currentVersions(db, names.values());
  return new Map([...names].map(([id, name]) => [id, versions.get(name) ?? name]));
}

/** The version id a delivery is pinned to: the compiled version's, or the missing profile's name. */
export function versionIdOf(profile: PublishProfile): string {
  return typeof profile === 'string' ? profile : profile.version.id;
}

/**
 * The bodies of one event under the profile versions that render their own (the others send
 * the event's envelope), once per version however many webhooks use it. An expression that
 * fails stores its error instead: those deliveries fail with TRANSFORM, the publish does not.
 */
export async function renderBodies(
  event: Omit<EventFields, 'tenant'>,
  tenant: TenantFields | null,
  profiles: Iterable<PublishProfile>,
): Promise<EventBodyRow[]> {
  const rows = [];
  const done = new Set<string>();
  for (const profile of profiles) {
    const version = versionIdOf(profile);
    if (done.has(version) || (typeof profile !== 'string' && profile.sendsEnvelope)) continue;
    done.add(version);
    let body: string | null = null;
    let error: string | null = null;
    if (typeof profile === 'string') error = `delivery profile "${profile}" does not exist`;
    else {
      try {
        body = await profile.renderBody(eventInput({ ...event, tenant }));
      } catch (e) {
        if (!(e instanceof TransformError)) throw e;
        error = e.message;
      }
    }
    rows.push({ event_id: event.id, profile_version: version, body, error });
  }
  return rows;
}
