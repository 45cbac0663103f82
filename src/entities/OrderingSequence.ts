import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * The last sequence number given to a (webhook, orderingKey) by a publish: the publishing
 * transaction takes the next ones under this row's lock, so publish order is commit order even
 * across API processes. The recorder takes the same lock before it picks a key's next delivery
 * (delivery/sql/ordering.ts). Retention deletes rows of keys with nothing waiting.
 */
export const OrderingSequence = defineEntity({
  name: 'OrderingSequence',
  tableName: 'ordering_sequence',
  properties: {
    webhookId: p.text().primary(),
    orderingKey: p.string().length(255).primary(),
    lastSeq: p.bigint('number'),
    updatedAt: p.datetime(),
  },
});

export type IOrderingSequence = InferEntity<typeof OrderingSequence>;
