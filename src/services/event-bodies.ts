// Publishing under delivery profiles: which version each webhook's deliveries are pinned to,
// and the bodies rendered once per (event, version).
import type { EntityManager } from '@mikro-orm/postgresql';
import { compiledBuiltIn } from '../core/profiles/builtins.ts';
import { type CompiledProfile, type EventFields, eventInput, type TenantFields, TransformError } from '../core/profiles/render.ts';
import { rawQuery } from '../db/raw-query.ts';
import { currentVersions } from './profiles.ts';

/** A row of event_body. */
export interface EventBodyRow {
  event_id: string;
  profile_version: string;
  body: string | null;
  error: string | null;
}

/**
 * The profile each webhook's deliveries are published with, by webhook id: a compiled current
 * version, or the name of a profile that does not exist (its deliveries fail with TRANSFORM).
 */
export async function profilesOf(
  em: EntityManager,
  webhooks: Iterable<{ id: string; profile: string | null }>,
  defaultProfile: string,
): Promise<Map<string, CompiledProfile | string>> {
  const names = new Map<string, string>();
  for (const w of webhooks) names.set(w.id, w.profile ?? defaultProfile);
  const versions = await currentVersions(em, names.values());
  return new Map([...names].map(([id, name]) => [id, versions.get(name) ?? name]));
}

/**
 * The bodies of one event under the profile versions that render their own (the others send
 * the event's envelope), once per version however many webhooks use it. An expression that
 * fails stores its error instead: those deliveries fail with TRANSFORM, the publish does not.
 */
export async function renderBodies(
  event: Omit<EventFields, 'tenant'>,
  tenant: TenantFields,
  profiles: Iterable<CompiledProfile | string>,
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

/** Stores rendered bodies (inside the caller's transaction). */
export async function insertEventBodies(em: EntityManager, rows: EventBodyRow[]): Promise<void> {
  if (rows.length === 0) return;
  await rawQuery(
    em,
    `insert into event_body (event_id, profile_version, body, error)
     select event_id, profile_version, body, error from json_to_recordset($1::json) as x(event_id text, profile_version text, body text, error text)`,
    [JSON.stringify(rows)],
  );
}

/** The version id a delivery is pinned to: the compiled version's, or the missing profile's name. */
export function versionIdOf(profile: CompiledProfile | string): string {
  return typeof profile === 'string' ? profile : profile.version.id;
}

/** What a delivery sends, as the API shows it. */
export interface SentBody {
  /** The delivery profile its event was published with (a version of it: later edits do not change what it sends). */
  profile: string;
  /** The exact bytes every attempt sends; null when its profile could not render them (its attempt's error is TRANSFORM). */
  body: string | null;
}

/**
 * The body a delivery sends on every attempt, exactly as sent: its event's envelope under a
 * profile without a body expression (the built-ins among them), else the body rendered for its
 * profile version when the event was published.
 */
export async function sentBody(
  em: EntityManager,
  delivery: { eventId: string; profileVersion: string },
  envelope: () => Promise<string>,
): Promise<SentBody> {
  const builtIn = compiledBuiltIn(delivery.profileVersion);
  if (builtIn) return { profile: builtIn.version.name, body: await envelope() };
  const [row] = await rawQuery<{ profile: string; envelope: boolean; body: string | null }>(
    em,
    `select v.profile, v.definition ->> 'body' is null as envelope, b.body
       from delivery_profile_version v
       left join event_body b on b.event_id = $1 and b.profile_version = v.id
      where v.id = $2`,
    [delivery.eventId, delivery.profileVersion],
  );
  // No such version: the profile named did not exist when the event was published.
  if (!row) return { profile: delivery.profileVersion, body: null };
  return { profile: row.profile, body: row.envelope ? await envelope() : row.body };
}
