import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * A delivery profile defined by the platform's operators (the built-in ones live in code,
 * core/profiles/builtins.ts). Its definition lives in its versions; `versionId` is the one new
 * events are published with.
 */
export const DeliveryProfile = defineEntity({
  name: 'DeliveryProfile',
  tableName: 'delivery_profile',
  properties: {
    name: p.string().primary(),
    description: p.text().nullable(),
    versionId: p.string(),
    version: p.integer(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type IDeliveryProfile = InferEntity<typeof DeliveryProfile>;
