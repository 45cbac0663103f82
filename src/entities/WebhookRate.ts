import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * A webhook's rate as a schedule: `nextSendAt` is the earliest time of the next send; a worker
 * reserves send times from it, spaced by the rate (core/flow.ts, reserve()). UNLOGGED (see its
 * migration): after a crash the schedule starts afresh, which at worst allows one send early.
 */
export const WebhookRate = defineEntity({
  name: 'WebhookRate',
  tableName: 'webhook_rate',
  properties: {
    webhookId: p.text().primary(),
    nextSendAt: p.datetime(),
  },
});

export type IWebhookRate = InferEntity<typeof WebhookRate>;
