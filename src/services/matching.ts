import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../db/raw-query.ts';

export interface MatchableWebhook {
  id: string;
  paused: boolean;
  /** The profile that applies to it: its own, else its tenant's (else HERALD_DEFAULT_PROFILE: null here). */
  profile: string | null;
  matches(type: string, channel: string | null): boolean;
}

/** The tenant as profiles see it, with the profile its webhooks inherit. */
export interface TenantForPublish {
  id: string;
  name: string;
  externalId: string | null;
  profile: string | null;
}

/**
 * The tenant's webhooks that can receive new events: not deleted and not DISABLED, and the
 * tenant itself (null when it has no such webhook: nothing is delivered, nothing rendered).
 * Matching: `events` holds the type or "*"; with `channels`, the event's channel is one of them.
 */
export async function matchingWebhooks(
  em: EntityManager,
  tenantId: string,
): Promise<{ webhooks: MatchableWebhook[]; tenant: TenantForPublish | null }> {
  const rows = await rawQuery<{
    id: string;
    status: string;
    events: string[];
    channels: string[] | null;
    profile: string | null;
    tenant: TenantForPublish;
  }>(
    em,
    `select w.id, w.status, w.events, w.channels, coalesce(w.profile, t.profile) as profile,
            json_build_object('id', t.id, 'name', t.name, 'externalId', t.external_id, 'profile', t.profile) as tenant
       from webhook w join tenant t on t.id = w.tenant_id
      where w.tenant_id = $1 and w.deleted_at is null and w.status <> 'DISABLED'`,
    [tenantId],
  );
  const webhooks = rows.map((row) => {
    const events = new Set(row.events);
    const channels = row.channels ? new Set(row.channels) : null;
    return {
      id: row.id,
      paused: row.status === 'PAUSED',
      profile: row.profile,
      matches: (type: string, channel: string | null) =>
        (events.has('*') || events.has(type)) && (channels === null || (channel !== null && channels.has(channel))),
    };
  });
  return { webhooks, tenant: rows[0]?.tenant ?? null };
}
