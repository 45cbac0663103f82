import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { Tenant } from './Tenant.ts';

/** A tenant's own event type; the built-in catalog lives in code (core/event-types.ts). */
export const EventType = defineEntity({
  name: 'EventType',
  tableName: 'event_type',
  uniques: [{ properties: ['tenant', 'name'] }],
  properties: {
    id: p.string().primary(),
    tenant: () => p.manyToOne(Tenant).ref().deleteRule('cascade'),
    name: p.string(),
    description: p.text().nullable(),
    example: p.json<unknown>().nullable(),
    archived: p.boolean().default(false),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IEventType = InferEntity<typeof EventType>;
