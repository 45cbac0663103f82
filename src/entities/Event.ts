import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { Tenant } from './Tenant.ts';

/**
 * A published event. `payload` is the exact JSON body endpoints receive, built once at
 * publish time so every attempt sends (and signs) the same bytes.
 */
export const Event = defineEntity({
  name: 'Event',
  tableName: 'event',
  indexes: [{ properties: ['tenant', 'id'] }, { properties: ['tenant', 'type', 'id'] }],
  uniques: [{ properties: ['tenant', 'idempotencyKey'] }],
  properties: {
    id: p.string().primary(),
    /** null: an operational event sent to operator webhooks (its body names the tenant it concerns). */
    tenant: () => p.manyToOne(Tenant).ref().nullable().deleteRule('cascade'),
    type: p.string(),
    channel: p.string().nullable(),
    payload: p.text(),
    idempotencyKey: p.string().nullable(),
    /** SHA-256 of type, channel and data, to tell a repeat from a conflicting reuse of a key. */
    requestHash: p.string().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
  },
});

export type IEvent = InferEntity<typeof Event>;

/** What is shown of an event: a loaded entity, or the plain record `publishEvents` builds (no entity to hydrate per event). */
export type EventRecord = Pick<IEvent, 'id' | 'type' | 'channel' | 'payload' | 'idempotencyKey' | 'requestHash' | 'createdAt'> & {
  /** null: the operator's copy of an operational event. */
  tenant?: { id: string } | null;
};
