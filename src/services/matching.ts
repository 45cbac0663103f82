import type { EntityManager } from '@mikro-orm/postgresql';
import { rawQuery } from '../db/raw-query.ts';

export interface MatchableWebhook {
  id: string;
  paused: boolean;
  matches(type: string, channel: string | null): boolean;
}

/**
 * The tenant's webhooks that can receive new events: not deleted and not DISABLED.
 * Matching: `events` holds the type or "*"; with `channels`, the event's channel is one of them.
 */
export async function matchingWebhooks(em: EntityManager, tenantId: string): Promise<MatchableWebhook[]> {
  const rows = await rawQuery<{ id: string; status: string; events: string[]; channels: string[] | null }>(
    em,
    `select id, status, events, channels from webhook where tenant_id = $1 and deleted_at is null and status <> 'DISABLED'`,
    [tenantId],
  );
  return rows.map((row) => {
    const events = new Set(row.events);
    const channels = row.channels ? new Set(row.channels) : null;
    return {
      id: row.id,
      paused: row.status === 'PAUSED',
      matches: (type, channel) =>
        (events.has('*') || events.has(type)) && (channels === null || (channel !== null && channels.has(channel))),
    };
  });
}
