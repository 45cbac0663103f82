import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { ATTEMPT_TRIGGERS } from '../core/delivery-state.ts';
import { Delivery } from './Delivery.ts';
import { HeaderMapType } from './header-map-type.ts';

/** One HTTP try of a delivery, with what was sent (secrets redacted) and what came back. */
export const Attempt = defineEntity({
  name: 'Attempt',
  tableName: 'attempt',
  indexes: [{ properties: ['delivery', 'number'] }, { properties: ['webhookId', 'id'] }],
  properties: {
    id: p.string().primary(),
    // No foreign key (see Delivery): attempts are written in batches as they happen, and
    // retention deletes them with their deliveries.
    delivery: () => p.manyToOne(Delivery).ref().createForeignKeyConstraint(false),
    /**
     * No longer written (null in new rows; nothing reads it): kept so that a worker of the release
     * before, which still writes it, can record its attempts during a rolling deploy. A later
     * release drops it.
     */
    tenantId: p.string().nullable(),
    webhookId: p.string(),
    number: p.integer(),
    trigger: p.enum(ATTEMPT_TRIGGERS),
    startedAt: p.datetime(),
    durationMs: p.integer(),
    requestUrl: p.text(),
    // Text in a compact form (core/header-log.ts), read back as the map.
    requestHeaders: p.type(HeaderMapType).$type<Record<string, string>>(),
    responseStatus: p.integer().nullable(),
    responseHeaders: p.type(HeaderMapType).$type<Record<string, string>>().nullable(),
    responseBody: p.text().nullable(),
    error: p.string().nullable(),
    errorMessage: p.text().nullable(),
  },
});

export type IAttempt = InferEntity<typeof Attempt>;
