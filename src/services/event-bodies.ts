// The bodies of events under delivery profiles, as services store and show them (which version
// each delivery is pinned to, and rendering, are outbox/profiles.ts: the worker writes deliveries too).
import type { EntityManager } from '@mikro-orm/postgresql';
import { compiledBuiltIn } from '../core/profiles/builtins.ts';
import { rawQuery } from '../db/raw-query.ts';
import type { EventBodyRow } from '../outbox/profiles.ts';

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
