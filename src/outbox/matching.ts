import type { Db } from 'pg-boss';
import { isOperationalEventType } from '../core/operational-events.ts';
import type { TenantFields } from '../core/profiles/render.ts';

/** A webhook that can receive new events (not deleted, not DISABLED), as publishing sees it. */
export interface MatchableWebhook {
  id: string;
  paused: boolean;
  /**
   * The delivery profile that applies to it: its own, else its tenant's (none for an operator
   * webhook); null: HERALD_DEFAULT_PROFILE.
   */
  profile: string | null;
  /** ordering KEYED: its deliveries of events with an orderingKey go one at a time per key. */
  keyed: boolean;
  matches(type: string, channel: string | null): boolean;
}

interface WebhookRow {
  id: string;
  tenant_id: string | null;
  status: string;
  events: string[];
  channels: string[] | null;
  ordering: string;
  profile: string | null;
}

/**
 * Matching: a tenant's webhook takes an event whose type its `events` names, or any but an
 * operational one with "*"; with `channels`, the event's channel must be one of them — except for
 * operational events, which have no channel and are asked for by name. An operator webhook
 * (no tenant) is offered operational events only, and "*" takes them all.
 */
function matchable(row: WebhookRow): MatchableWebhook {
  const events = new Set(row.events);
  const all = events.has('*');
  const channels = row.channels ? new Set(row.channels) : null;
  const operator = row.tenant_id === null;
  return {
    id: row.id,
    paused: row.status === 'PAUSED',
    profile: row.profile,
    keyed: row.ordering === 'KEYED',
    matches: (type, channel) => {
      if (operator) return all || events.has(type);
      if (isOperationalEventType(type)) return events.has(type);
      return (all || events.has(type)) && (channels === null || (channel !== null && channels.has(channel)));
    },
  };
}

// The profile that applies: the webhook's own, else its tenant's (an operator webhook has none).
const COLUMNS = 'w.id, w.tenant_id, w.status, w.events, w.channels, w.ordering, coalesce(w.profile, t.profile) as profile';
const LIVE = `w.deleted_at is null and w.status <> 'DISABLED'`;
const TENANT_FIELDS = `json_build_object('id', t.id, 'name', t.name, 'externalId', t.external_id)`;

/**
 * The tenant's webhooks that can receive new events (not deleted and not DISABLED), and the
 * tenant as profile expressions see it (null when it has no such webhook: nothing is delivered,
 * nothing rendered).
 */
export async function matchingWebhooks(db: Db, tenantId: string): Promise<{ webhooks: MatchableWebhook[]; tenant: TenantFields | null }> {
  const { rows } = await db.executeSql(
    `select ${COLUMNS}, ${TENANT_FIELDS} as tenant from webhook w join tenant t on t.id = w.tenant_id where w.tenant_id = $1 and ${LIVE}`,
    [tenantId],
  );
  const list = rows as (WebhookRow & { tenant: TenantFields })[];
  return { webhooks: list.map(matchable), tenant: list[0]?.tenant ?? null };
}

/**
 * Who can receive operational events about these tenants: each tenant's webhooks that name one,
 * the operator webhooks, and the tenants as profile expressions see them (the operator's copy
 * names its tenant too).
 */
export interface NoticeSubscribers {
  byTenant: Map<string, MatchableWebhook[]>;
  operator: MatchableWebhook[];
  tenants: Map<string, TenantFields>;
}

/**
 * The webhooks that may receive operational events about `tenantIds`, read inside the caller's
 * transaction (a webhook it has just disabled is not among them), and those tenants: one
 * statement on the (tenant_id, id) index.
 */
export async function noticeSubscribers(db: Db, tenantIds: readonly string[], types: readonly string[]): Promise<NoticeSubscribers> {
  const { rows } = await db.executeSql(
    `select ${COLUMNS}, null as tenant from webhook w left join tenant t on t.id = w.tenant_id
      where ${LIVE} and ((w.tenant_id = any($1::text[]) and w.events ?| $2::text[]) or w.tenant_id is null)
     union all
     select null, null, null, null, null, null, null, ${TENANT_FIELDS} from tenant t where t.id = any($1::text[])`,
    [tenantIds, types],
  );
  const subscribers: NoticeSubscribers = { byTenant: new Map(), operator: [], tenants: new Map() };
  for (const row of rows as (WebhookRow & { tenant: TenantFields | null })[]) {
    if (row.tenant) {
      subscribers.tenants.set(row.tenant.id, row.tenant);
      continue;
    }
    if (row.tenant_id === null) {
      subscribers.operator.push(matchable(row));
      continue;
    }
    const list = subscribers.byTenant.get(row.tenant_id);
    if (list) list.push(matchable(row));
    else subscribers.byTenant.set(row.tenant_id, [matchable(row)]);
  }
  return subscribers;
}
