import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/** A customer of the platform. */
export const Tenant = defineEntity({
  name: 'Tenant',
  tableName: 'tenant',
  properties: {
    id: p.string().primary(),
    name: p.text(),
    /** The delivery profile of its webhooks that name none; null: HERALD_DEFAULT_PROFILE. */
    profile: p.string().nullable(),
    /** The platform's own id for this customer (e.g. Zavu's projectId), for profiles to send. */
    externalId: p.text().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type ITenant = InferEntity<typeof Tenant>;
