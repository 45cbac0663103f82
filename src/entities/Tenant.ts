import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

export const Tenant = defineEntity({
  name: 'Tenant',
  tableName: 'tenant',
  properties: {
    id: p.string().primary(),
    name: p.text(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type ITenant = InferEntity<typeof Tenant>;
