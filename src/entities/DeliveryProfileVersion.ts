import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import type { ProfileDefinition } from '../core/profiles/definition.ts';

/**
 * One immutable version of a delivery profile. Each edit makes a new one; a delivery keeps the
 * version its event was published with. No foreign key to the profile: a version outlives its
 * profile's deletion while deliveries still use it.
 */
export const DeliveryProfileVersion = defineEntity({
  name: 'DeliveryProfileVersion',
  tableName: 'delivery_profile_version',
  uniques: [{ properties: ['profile', 'number'] }],
  properties: {
    id: p.string().primary(),
    profile: p.string(),
    number: p.integer(),
    // json, not jsonb: the definition reads back as written (header order, key order).
    definition: p.json<ProfileDefinition>().columnType('json'),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IDeliveryProfileVersion = InferEntity<typeof DeliveryProfileVersion>;
