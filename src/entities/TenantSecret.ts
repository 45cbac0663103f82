import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { Tenant } from './Tenant.ts';
import type { StoredSecret } from './Webhook.ts';

/**
 * The signing secrets of a tenant under a profile whose secrets are tenant-scoped (one secret
 * for all of the tenant's webhooks under it, as senderZ does), encrypted like a webhook's.
 */
export const TenantSecret = defineEntity({
  name: 'TenantSecret',
  tableName: 'tenant_secret',
  properties: {
    tenant: () => p.manyToOne(Tenant).ref().primary().deleteRule('cascade'),
    profile: p.string().primary(),
    secrets: p.json<StoredSecret[]>(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type ITenantSecret = InferEntity<typeof TenantSecret>;
