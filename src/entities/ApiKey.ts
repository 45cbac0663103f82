import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { Tenant } from './Tenant.ts';

/** A tenant's API key. Only the SHA-256 hash of the secret is stored. */
export const ApiKey = defineEntity({
  name: 'ApiKey',
  tableName: 'api_key',
  properties: {
    id: p.string().primary(),
    tenant: () => p.manyToOne(Tenant).ref().deleteRule('cascade').index(),
    name: p.text(),
    prefix: p.string(),
    keyHash: p.string().unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
    lastUsedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export type IApiKey = InferEntity<typeof ApiKey>;
