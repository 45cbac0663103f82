import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { NORMAL_RANK } from '../core/flow.ts';

/**
 * Where a delivery owed an attempt is found (core/delivery-state.ts, "Where owed deliveries are
 * found"): one row per delivery owed an attempt beyond its first — retries, attempts put off or
 * asked for by hand, test events, deliveries parked behind a paused webhook — per fresh delivery
 * a claim left in the table for want of room (a pull takes it) or a worker gave back, per waiting
 * delivery of a KEYED webhook with an ordering key, and per fresh delivery still owed when the
 * sweep looked over its publish batch (DeliveryBatch). `dueAt` mirrors the delivery's
 * `next_attempt_at` (null: parked, or behind its ordering key); `priority`, `orderingKey` and
 * `orderingSeq` are the delivery's, which never change while it waits. The delivery row stays
 * the truth: a row here whose delivery is no longer owed is harmless and the sweep removes it.
 *
 * It exists so that the delivery table needs no index on `status` or `next_attempt_at`: the
 * worker's final update of a delivery then changes no indexed column and is a HOT update.
 */
export const DeliveryDue = defineEntity({
  name: 'DeliveryDue',
  tableName: 'delivery_due',
  indexes: [
    // The sweep and the lag gauge: the longest due first.
    { properties: ['dueAt'] },
    // A webhook's owed deliveries in the order a worker pulls them (delivery/sql/claim-deliveries.ts),
    // how many wait (stats), and those of a paused or deleted webhook.
    { name: 'delivery_due_by_webhook', properties: ['webhookId', 'priority', 'dueAt'] },
    // The waiting deliveries of each ordering key, in publish order: its head is the first.
    { name: 'delivery_due_by_key', properties: ['webhookId', 'orderingKey', 'orderingSeq'], where: 'ordering_key is not null' },
  ],
  properties: {
    deliveryId: p.string().primary(),
    webhookId: p.string(),
    /** 0 HIGH, 1 NORMAL, 2 LOW (core/flow.ts). */
    priority: p.smallint().default(NORMAL_RANK),
    dueAt: p.datetime().nullable(),
    orderingKey: p.string().length(255).nullable(),
    orderingSeq: p.bigint('number').nullable(),
  },
});

export type IDeliveryDue = InferEntity<typeof DeliveryDue>;
