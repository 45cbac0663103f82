import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * A worker that wants more of a webhook's slots than it holds: its acquire came back short (other
 * workers hold them), or its fair share keeps it below what its queue could use. Written while the
 * want lasts (`until`, refreshed about twice a second); a slot holder reads the rows of the
 * webhooks it holds slots of and keeps at most its fair share, giving back the rest as they free
 * (delivery/flow.ts, "Sharing slots"). A row whose `until` has passed is no want. UNLOGGED (see
 * its migration). Statements: delivery/sql/flow.ts.
 */
export const WebhookSlotWant = defineEntity({
  name: 'WebhookSlotWant',
  tableName: 'webhook_slot_want',
  properties: {
    webhookId: p.text().primary(),
    workerId: p.text().primary(),
    until: p.datetime(),
  },
});

export type IWebhookSlotWant = InferEntity<typeof WebhookSlotWant>;
