import type { PoolClient } from 'pg';
import { WAITING_SQL } from '../../core/delivery-state.ts';
import type { DeliveryIds } from '../../live/messages.ts';

/** An ordering key of a webhook. */
export interface KeyRef {
  webhookId: string;
  orderingKey: string;
}

/**
 * After deliveries of KEYED webhooks were recorded (in the recorder's transaction): the first
 * waiting delivery of each of their keys — its head — becomes due now if it was waiting behind
 * its key (next attempt null) and its webhook is ACTIVE; and each of `retrying` (recorded with a
 * scheduled retry) that still has its key and is not the key's head waits behind it again (it was
 * sent out of turn by hand). One whose key was cleared while it was in flight (the webhook was
 * switched to NONE: services/webhooks.ts) keeps its retry: no key would ever make it due again.
 * Returns the deliveries made due, for their wake-up jobs. A key with nothing waiting any more
 * loses its sequence row (keys are often message ids: kept, the rows would grow for ever); its
 * next publish numbers from 1 again, which orders nothing wrongly, as only waiting deliveries are
 * compared and an ended delivery never waits again.
 *
 * First it takes the lock of each key's sequence row, in one order: a publish of the same key
 * holds it from numbering its deliveries to its commit, and decides from what is waiting then
 * whether its first delivery waits behind the key (services/events.ts). Without the lock a
 * publish could see the ending delivery still waiting and this statement miss the new one: the
 * new delivery would wait for ever.
 */
export async function advanceKeys(client: PoolClient, keys: KeyRef[], retrying: string[]): Promise<DeliveryIds[]> {
  if (keys.length === 0) return [];
  const webhookIds = keys.map((k) => k.webhookId);
  const orderingKeys = keys.map((k) => k.orderingKey);
  await client.query(
    `select 1 from ordering_sequence s
      where (s.webhook_id, s.ordering_key) in (select * from unnest($1::text[], $2::text[]))
      order by s.webhook_id, s.ordering_key
      for update`,
    [webhookIds, orderingKeys],
  );
  const { rows } = await client.query<DeliveryIds>(
    // Every waiting delivery with an ordering key has its delivery_due row, with its key and place
    // (core/delivery-state.ts): a key's head is the first of them still waiting.
    `with head as (
       select h.id
         from (select distinct * from unnest($1::text[], $2::text[]) as k(webhook_id, ordering_key)) k
        cross join lateral (
          select q.delivery_id as id from delivery_due q
           where q.webhook_id = k.webhook_id and q.ordering_key = k.ordering_key
             and coalesce((select true from delivery d where d.id = q.delivery_id and d.status in ${WAITING_SQL} limit 1), false)
           order by q.ordering_seq limit 1) h
     ), changed as (
       update delivery d set next_attempt_at = case when d.id in (select id from head) then now() end, updated_at = now()
        -- By id (the primary key): the heads and the retried ones, then which is which.
        where d.id = any(array(select id from head union all select unnest($3::text[])))
          and ((d.id in (select id from head) and d.next_attempt_at is null and d.locked_by is null
               and exists (select 1 from webhook w where w.id = d.webhook_id and w.status = 'ACTIVE' and w.deleted_at is null))
           or (d.id = any($3::text[]) and d.ordering_key is not null and d.id not in (select id from head)
               and d.status in ${WAITING_SQL} and d.next_trigger = 'SCHEDULED' and d.next_attempt_at is not null))
        returning d.id, d.tenant_id, d.webhook_id, d.event_id, d.next_attempt_at
     ), due_now as (
       -- Two updates by primary key, each with one value: a value looked up per row in changed
       -- read all of it for each row (2 000 heads took 250 ms).
       update delivery_due set due_at = now() where delivery_id = any(array(select id from changed where next_attempt_at is not null))
     ), behind as (
       update delivery_due set due_at = null where delivery_id = any(array(select id from changed where next_attempt_at is null))
     )
     select id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId", next_attempt_at is not null as due
       from changed`,
    [webhookIds, orderingKeys, retrying],
  );
  await client.query(
    `delete from ordering_sequence s
      using (select distinct * from unnest($1::text[], $2::text[]) as k(webhook_id, ordering_key)) k
      where s.webhook_id = k.webhook_id and s.ordering_key = k.ordering_key
        and not exists (select 1 from delivery_due q join delivery d on d.id = q.delivery_id
                         where q.webhook_id = s.webhook_id and q.ordering_key = s.ordering_key and d.status in ${WAITING_SQL})`,
    [webhookIds, orderingKeys],
  );
  return rows.filter((r) => (r as DeliveryIds & { due: boolean }).due);
}
