import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * The deliveries one publish call wrote, due at once: their ids run from `firstDeliveryId` to
 * `lastDeliveryId` (ids are time-ordered; another call's may fall in between). A fresh delivery
 * needs no DeliveryDue row of its own while its batch row exists: its wake-up job sends it within
 * moments. Once a batch is older than lease/2 the sweep gives each of its deliveries still owed
 * an attempt a DeliveryDue row, and deletes the batch row (delivery/sql/sweep.ts).
 */
export const DeliveryBatch = defineEntity({
  name: 'DeliveryBatch',
  tableName: 'delivery_batch',
  properties: {
    firstDeliveryId: p.string().primary(),
    lastDeliveryId: p.string(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IDeliveryBatch = InferEntity<typeof DeliveryBatch>;
