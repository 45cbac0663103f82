import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { Tenant } from './Tenant.ts';

/**
 * A customer portal session: made by the platform for one tenant, opened once through the
 * link's one-time code, then used with its bearer token until it expires or is revoked. Only
 * SHA-256 hashes of the code and the token are stored.
 */
export const PortalSession = defineEntity({
  name: 'PortalSession',
  tableName: 'portal_session',
  properties: {
    id: p.string().primary(),
    tenant: () => p.manyToOne(Tenant).ref().deleteRule('cascade').index(),
    readOnly: p.boolean().default(false),
    /** Hash of the one-time code in the link's fragment. */
    codeHash: p.string().unique(),
    /** Hash of the session token, set when the code is exchanged (null until then). */
    tokenHash: p.string().nullable().unique(),
    createdAt: p.datetime().onCreate(() => new Date()),
    /** When the session ends; an unused link ends with it. */
    expiresAt: p.datetime(),
    /** When the code was exchanged: a link opens one session, once. */
    openedAt: p.datetime().nullable(),
    revokedAt: p.datetime().nullable(),
  },
});

export type IPortalSession = InferEntity<typeof PortalSession>;
