import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { ATTEMPT_TRIGGERS, DELIVERY_STATUSES } from '../core/delivery-state.ts';
import { NORMAL_RANK } from '../core/flow.ts';
import { Attempt } from './Attempt.ts';
import { Event } from './Event.ts';
import { Tenant } from './Tenant.ts';
import { Webhook } from './Webhook.ts';

/**
 * One per (event, webhook): the state of getting that event to that endpoint (its lifecycle:
 * core/delivery-state.ts).
 *
 * Four indexes, none on a column the worker changes: the id, (tenant, id) and (webhook, id) for
 * newest-first history pages, (event, webhook) for an event's deliveries and retention. Then the
 * worker's lease and its final update of a delivery are HOT updates (the new row version on the
 * same page, no index entries; the table keeps half of each page free for them). Deliveries owed
 * an attempt are found through DeliveryDue and DeliveryBatch instead of an index on `status` or
 * `next_attempt_at` (which made every final update write an entry in every index then) — flow
 * control's pulls by webhook and priority and its ordering keys' heads included.
 */
export const Delivery = defineEntity({
  name: 'Delivery',
  tableName: 'delivery',
  indexes: [{ properties: ['tenant', 'id'] }, { properties: ['webhook', 'id'] }],
  uniques: [{ properties: ['event', 'webhook'] }],
  properties: {
    id: p.string().primary(),
    // No foreign keys on the hot path: a delivery is written in the statement that writes its
    // event, for a webhook of the event's tenant just read (webhooks are never deleted
    // outright), and retention deletes events, deliveries and attempts together. Each key
    // check locked the tenant, webhook or event row once per delivery written: a fifth of
    // PostgreSQL's time in the benchmark.
    /** null: a delivery to an operator webhook. */
    tenant: () => p.manyToOne(Tenant).ref().nullable().createForeignKeyConstraint(false),
    event: () => p.manyToOne(Event).ref().createForeignKeyConstraint(false),
    webhook: () => p.manyToOne(Webhook).ref().createForeignKeyConstraint(false),
    eventType: p.string(),
    /**
     * The delivery profile version its event was published with (a built-in's name, or `dpv_…`):
     * every attempt sends that version's body and headers.
     */
    profileVersion: p.string().default('standard'),
    status: p.enum(DELIVERY_STATUSES).default('PENDING'),
    attemptCount: p.integer().default(0),
    nextAttemptAt: p.datetime().nullable(),
    lastAttemptAt: p.datetime().nullable(),
    completedAt: p.datetime().nullable(),
    lastResponseStatus: p.integer().nullable(),
    lastError: p.string().nullable(),
    /** The trigger of the next attempt: SCHEDULED, or MANUAL/TEST for a one-off try. */
    nextTrigger: p.enum(ATTEMPT_TRIGGERS).default('SCHEDULED'),
    /** A worker's lease while it holds the delivery; expired leases are swept and re-queued. */
    lockedUntil: p.datetime().nullable(),
    lockedBy: p.string().nullable(),
    /** Its event type's priority when published, as a rank: 0 HIGH, 1 NORMAL, 2 LOW (core/flow.ts). */
    priority: p.smallint().default(NORMAL_RANK),
    /** For a KEYED webhook: the event's orderingKey and its place among that key's deliveries. */
    orderingKey: p.string().length(255).nullable(),
    orderingSeq: p.bigint('number').nullable(),
    attempts: () => p.oneToMany(Attempt).mappedBy('delivery'),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
  },
});

export type IDelivery = InferEntity<typeof Delivery>;
