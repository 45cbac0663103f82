import type { Db, PgBoss } from 'pg-boss';
import { DUE_COLUMNS, WAITING_SQL } from '../core/delivery-state.ts';
import { defaultPriorityRank } from '../core/event-types.ts';
import { newId } from '../core/ids.ts';
import type { TenantFields } from '../core/profiles/render.ts';
import { enqueueDeliveriesAt } from '../jobs/queue.ts';
import { deliveryMessage, LIVE_CHANNEL, type LiveMessage, notifyPayloads, notifyPayloadsSql } from '../live/messages.ts';
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
  /** Its deliveries' priority rank (core/flow.ts); default: its type's built-in default. */
  priority?: number;
  /** Its orderingKey: its deliveries to KEYED webhooks go one at a time per key, in publish order. */
  orderingKey?: string | null;
  /**
   * One delivery each, pinned to the webhook's profile version (profiles.ts); a paused one's
   * waits for its resume (no due time, no wake-up job), and so does one behind an earlier
   * delivery of its ordering key (`keyed`: the webhook's ordering is KEYED).
   */
  webhooks: readonly { id: string; paused: boolean; keyed?: boolean; profile: PublishProfile }[];
}

/** A delivery as publishing writes it. */
interface NewDelivery {
  id: string;
  tenant_id: string | null;
  event_id: string;
  webhook_id: string;
  event_type: string;
  profile_version: string;
  priority: number;
  ordering_key: string | null;
  ordering_seq: number | null;
  due: Date | null;
}

/**
 * Writes events, their bodies under the profile versions that render their own (an expression
 * that fails stores its error: those deliveries fail with TRANSFORM, nothing else does), one
 * delivery per (event, webhook) pinned to its profile version, and the QUEUED live messages with one
 * statement (the due deliveries are found again through one delivery_batch row, their id range; the
 * parked ones and those with an ordering key through their delivery_due rows: core/delivery-state.ts,
 * "Where owed deliveries are found"), then the wake-up jobs of deliveries to active webhooks — all through `db`, inside the
 * caller's transaction, so they exist together with whatever else it commits or not at all. Few
 * round trips keep publishing fast. Deliveries to KEYED webhooks are numbered per key first
 * (numberKeyed). With `announce: false` the QUEUED messages are returned for
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
  const deliveries: NewDelivery[] = [];
  const bodies: EventBodyRow[] = [];
  const now = new Date();
  for (const event of events) {
    for (const webhook of event.webhooks) {
      deliveries.push({
        id: newId('dlv'),
        tenant_id: event.tenantId,
        event_id: event.id,
        webhook_id: webhook.id,
        event_type: event.type,
        profile_version: versionIdOf(webhook.profile),
        priority: event.priority ?? defaultPriorityRank(event.type),
        ordering_key: webhook.keyed ? (event.orderingKey ?? null) : null,
        ordering_seq: null,
        due: webhook.paused ? null : now,
      });
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
  await numberKeyed(db, deliveries);
  // Ids are time-ordered: the due ones run from the first to the last (one delivery_batch row).
  const dueIds = deliveries.filter((d) => d.due !== null).map((d) => d.id);
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
       insert into delivery (id, tenant_id, event_id, webhook_id, event_type, profile_version, status, next_attempt_at,
                             priority, ordering_key, ordering_seq, created_at, updated_at)
       select id, tenant_id, event_id, webhook_id, event_type, profile_version, 'PENDING', due, priority, ordering_key,
              ordering_seq, $3::timestamptz, $3::timestamptz
         from json_to_recordset($2::json) as x(id text, tenant_id text, event_id text, webhook_id text, event_type text,
              profile_version text, due timestamptz, priority smallint, ordering_key text, ordering_seq bigint)
     ), new_body as (
       insert into event_body (event_id, profile_version, body, error)
       select event_id, profile_version, body, error from json_to_recordset($6::json) as x(event_id text, profile_version text, body text, error text)
     ), new_batch as (
       insert into delivery_batch (first_delivery_id, last_delivery_id, created_at)
       select $7::text, $8::text, $3::timestamptz where $7::text is not null
     ), owed as (
       -- Parked ones, and every one with an ordering key: a key's waiting deliveries are found
       -- (its head first) through delivery_due.
       insert into delivery_due (${DUE_COLUMNS})
       select id, webhook_id, priority, due, ordering_key, ordering_seq
         from json_to_recordset($9::json) as x(id text, webhook_id text, priority smallint, due timestamptz, ordering_key text, ordering_seq bigint)
     )
     select count(pg_notify($4, payload)) from ${notifyPayloadsSql('$5')}`,
    [
      JSON.stringify(rows),
      JSON.stringify(deliveries),
      now,
      LIVE_CHANNEL,
      notifyPayloads(announce ? queued : []),
      JSON.stringify(bodies),
      dueIds[0] ?? null,
      dueIds.at(-1) ?? null,
      JSON.stringify(deliveries.filter((d) => d.due === null || d.ordering_key !== null)),
    ],
  );
  // Wake-up jobs at each delivery's priority (pg-boss hands out higher ones first).
  const byPriority = new Map<number, string[]>();
  for (const d of deliveries) {
    if (d.due === null) continue;
    const ids = byPriority.get(d.priority);
    if (ids) ids.push(d.id);
    else byPriority.set(d.priority, [d.id]);
  }
  await enqueueDeliveriesAt(
    boss,
    [...byPriority].map(([priority, ids]) => ({ ids, priority })),
    { db },
  );
  return announce ? [] : queued;
}

/**
 * Numbers the keyed deliveries of a publish in publish order, per (webhook, key), and leaves all
 * but the first of each key waiting behind it (no next attempt time) — the first too when an
 * earlier delivery of its key still waits. The numbers come from each key's ordering_sequence
 * row, whose lock this transaction then holds until it commits; only after taking it does it
 * look at what waits, so a recorder ending the key's last waiting delivery either sees these
 * deliveries or has committed before this looks (delivery/sql/ordering.ts takes the same lock).
 */
async function numberKeyed(db: Db, deliveries: NewDelivery[]): Promise<void> {
  const byKey = new Map<string, NewDelivery[]>();
  for (const d of deliveries) {
    if (d.ordering_key === null) continue;
    const k = `${d.webhook_id}\u0000${d.ordering_key}`;
    const list = byKey.get(k);
    if (list) list.push(d);
    else byKey.set(k, [d]);
  }
  if (byKey.size === 0) return;
  const keys = [...byKey.values()].map((list) => ({ webhook_id: list[0].webhook_id, ordering_key: list[0].ordering_key!, n: list.length }));
  const { rows: numbered } = (await db.executeSql(
    `insert into ordering_sequence (webhook_id, ordering_key, last_seq, updated_at)
     select webhook_id, ordering_key, n, now() from json_to_recordset($1::json) as k(webhook_id text, ordering_key text, n int)
      order by webhook_id, ordering_key
     on conflict (webhook_id, ordering_key) do update
        set last_seq = ordering_sequence.last_seq + excluded.last_seq, updated_at = excluded.updated_at
     returning webhook_id, ordering_key, last_seq`,
    [JSON.stringify(keys)],
  )) as { rows: { webhook_id: string; ordering_key: string; last_seq: string }[] };
  const { rows: waiting } = (await db.executeSql(
    // Every waiting delivery with an ordering key has its delivery_due row (core/delivery-state.ts).
    `select k.webhook_id, k.ordering_key
       from json_to_recordset($1::json) as k(webhook_id text, ordering_key text, n int)
      where exists (select 1 from delivery_due q join delivery d on d.id = q.delivery_id
                     where q.webhook_id = k.webhook_id and q.ordering_key = k.ordering_key and d.status in ${WAITING_SQL})`,
    [JSON.stringify(keys)],
  )) as { rows: { webhook_id: string; ordering_key: string }[] };
  const busy = new Set(waiting.map((w) => `${w.webhook_id}\u0000${w.ordering_key}`));
  for (const row of numbered) {
    const k = `${row.webhook_id}\u0000${row.ordering_key}`;
    const list = byKey.get(k)!;
    const first = Number(row.last_seq) - list.length + 1;
    for (const [i, d] of list.entries()) {
      d.ordering_seq = first + i;
      if (i > 0 || busy.has(k)) d.due = null;
    }
  }
}
