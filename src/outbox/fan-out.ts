import type { Db, PgBoss } from 'pg-boss';
import { newId } from '../core/ids.ts';
import type { TenantFields } from '../core/profiles/render.ts';
import { enqueueDeliveries } from '../jobs/queue.ts';
import { deliveryMessage, LIVE_CHANNEL, type LiveMessage, packMessages } from '../live/messages.ts';
import { type EventBodyRow, type PublishProfile, renderBodies, versionIdOf } from './profiles.ts';

/** An event to write, with the webhooks it goes to (already matched). */
export interface OutgoingEvent {
  id: string;
  /** The tenant the row belongs to; null for an operational event sent to operator webhooks. */
  tenantId: string | null;
  type: string;
  channel: string | null;
  /** Herald's envelope (core/payload.ts): the body of every attempt under a profile without a body expression. */
  payload: string;
  /** The event's data, for the profiles that render their own body. */
  data: unknown;
  /** The tenant as profile expressions see it (`tenant`, `tenantId`); null: none (an operator webhook's test). */
  tenant: TenantFields | null;
  idempotencyKey: string | null;
  requestHash: string | null;
  createdAt: Date;
  /**
   * One delivery each, pinned to the webhook's profile version (profiles.ts); a paused one's
   * waits for its resume (no due time, no wake-up job).
   */
  webhooks: readonly { id: string; paused: boolean; profile: PublishProfile }[];
}

/**
 * Writes events, their bodies under the profile versions that render their own (an expression
 * that fails stores its error: those deliveries fail with TRANSFORM, nothing else does), one
 * delivery per (event, webhook) pinned to its profile version, and the QUEUED live messages with one
 * statement, then the wake-up jobs of deliveries to active webhooks — all through `db`, inside the
 * caller's transaction, so they exist together with whatever else it commits or not at all. Few
 * round trips keep publishing fast. With `announce: false` the QUEUED messages are returned for
 * the caller to send after it commits (the worker's recorder does: see record.ts) instead of
 * being sent by the statement.
 */
export async function insertEvents(
  db: Db,
  boss: PgBoss,
  events: readonly OutgoingEvent[],
  options: { announce?: boolean } = {},
): Promise<LiveMessage[]> {
  if (events.length === 0) return [];
  const deliveries: {
    id: string;
    tenant_id: string | null;
    event_id: string;
    webhook_id: string;
    event_type: string;
    profile_version: string;
    due: Date | null;
  }[] = [];
  const bodies: EventBodyRow[] = [];
  const dueIds: string[] = [];
  const now = new Date();
  for (const event of events) {
    for (const webhook of event.webhooks) {
      const id = newId('dlv');
      deliveries.push({
        id,
        tenant_id: event.tenantId,
        event_id: event.id,
        webhook_id: webhook.id,
        event_type: event.type,
        profile_version: versionIdOf(webhook.profile),
        due: webhook.paused ? null : now,
      });
      if (!webhook.paused) dueIds.push(id);
    }
    if (event.webhooks.length === 0) continue;
    const fields = { id: event.id, type: event.type, channel: event.channel, createdAt: event.createdAt, data: event.data };
    bodies.push(
      ...(await renderBodies(
        fields,
        event.tenant,
        event.webhooks.map((w) => w.profile),
      )),
    );
  }
  const rows = events.map((e) => ({
    id: e.id,
    tenant_id: e.tenantId,
    type: e.type,
    channel: e.channel,
    payload: e.payload,
    idempotency_key: e.idempotencyKey,
    request_hash: e.requestHash,
    created_at: e.createdAt,
  }));
  const queued = deliveries.map((d) =>
    deliveryMessage({ id: d.id, tenantId: d.tenant_id, webhookId: d.webhook_id, eventId: d.event_id }, 'QUEUED'),
  );
  const announce = options.announce ?? true;
  await db.executeSql(
    `with new_event as (
       insert into event (id, tenant_id, type, channel, payload, idempotency_key, request_hash, created_at)
       select id, tenant_id, type, channel, payload, idempotency_key, request_hash, created_at
         from json_to_recordset($1::json) as x(id text, tenant_id text, type text, channel text, payload text,
              idempotency_key text, request_hash text, created_at timestamptz)
     ), new_delivery as (
       insert into delivery (id, tenant_id, event_id, webhook_id, event_type, profile_version, status, next_attempt_at, created_at, updated_at)
       select id, tenant_id, event_id, webhook_id, event_type, profile_version, 'PENDING', due, $3::timestamptz, $3::timestamptz
         from json_to_recordset($2::json) as x(id text, tenant_id text, event_id text, webhook_id text, event_type text,
              profile_version text, due timestamptz)
     ), new_body as (
       insert into event_body (event_id, profile_version, body, error)
       select event_id, profile_version, body, error from json_to_recordset($6::json) as x(event_id text, profile_version text, body text, error text)
     )
     select count(pg_notify($4, payload)) from unnest($5::text[]) as payload`,
    [JSON.stringify(rows), JSON.stringify(deliveries), now, LIVE_CHANNEL, announce ? packMessages(queued) : [], JSON.stringify(bodies)],
  );
  await enqueueDeliveries(boss, dueIds, { db });
  return announce ? [] : queued;
}
