import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { PRIORITIES } from '../core/flow.ts';
import { Tenant } from './Tenant.ts';

/**
 * A tenant's own event type, or (tenant null) a platform-wide one created with the admin key.
 * The built-in catalog lives in code (core/event-types.ts); a platform-wide row with a built-in's
 * name holds the operators' changes to it (archived, description, example, priority).
 */
export const EventType = defineEntity({
  name: 'EventType',
  tableName: 'event_type',
  uniques: [
    { properties: ['tenant', 'name'] },
    { name: 'event_type_platform_name_unique', properties: ['name'], where: 'tenant_id is null' },
  ],
  properties: {
    id: p.string().primary(),
    tenant: () => p.manyToOne(Tenant).ref().nullable().deleteRule('cascade'),
    name: p.string(),
    description: p.text().nullable(),
    example: p.json<unknown>().nullable(),
    archived: p.boolean().default(false),
    /**
     * HIGH, NORMAL or LOW, set by an operator on a built-in or platform-wide type; null: its
     * default (core/event-types.ts defaultPriority). A tenant's own type is always NORMAL.
     */
    priority: p.enum(PRIORITIES).nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IEventType = InferEntity<typeof EventType>;
