import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * A webhook's open window of `delivery.exhausted` events (src/outbox/exhausted-fold.ts): the
 * first of the window went out at once; the ones after it are counted here until `closesAt`, then
 * sent as one follow-up and the row deleted. No row: no window open.
 */
export const ExhaustedFold = defineEntity({
  name: 'ExhaustedFold',
  tableName: 'exhausted_fold',
  indexes: [{ properties: ['closesAt'] }],
  properties: {
    webhookId: p.string().primary(),
    tenantId: p.string(),
    /** When the window's first exhausted delivery failed (sent at once). */
    openedAt: p.datetime(),
    closesAt: p.datetime(),
    /** Exhausted deliveries folded since: the follow-up's `count` (0: nothing to follow up). */
    count: p.integer(),
    /** The `data` of the last one folded: the follow-up carries its ids and error. */
    latest: p.json<Record<string, unknown>>(),
  },
});

export type IExhaustedFold = InferEntity<typeof ExhaustedFold>;
