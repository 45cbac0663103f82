import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * One of a webhook's maxInFlight slots: a worker sends to the webhook only with a slot it holds,
 * so requests open to it never exceed maxInFlight across all workers. Held like a delivery's
 * lease (`heldUntil`, renewed while held): a dead worker's slots free themselves when it lapses.
 * A slot whose `heldUntil` has passed is free, as is one never used (no row). UNLOGGED (see its
 * migration). Statements: delivery/sql/flow.ts.
 */
export const WebhookSlot = defineEntity({
  name: 'WebhookSlot',
  tableName: 'webhook_slot',
  properties: {
    webhookId: p.text().primary(),
    /** 0 … maxInFlight − 1; only slots below the concurrency in force are taken. */
    slot: p.integer().primary(),
    heldBy: p.text().nullable(),
    heldUntil: p.datetime(),
  },
});

export type IWebhookSlot = InferEntity<typeof WebhookSlot>;
