import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { ATTEMPT_TRIGGERS, DELIVERY_STATUSES, WAITING_SQL } from '../core/delivery-state.ts';
import { NORMAL_RANK } from '../core/flow.ts';
import { Attempt } from './Attempt.ts';
import { Event } from './Event.ts';
import { Tenant } from './Tenant.ts';
import { Webhook } from './Webhook.ts';

/** One per (event, webhook): the state of getting that event to that endpoint (its lifecycle: core/delivery-state.ts). */
export const Delivery = defineEntity({
  name: 'Delivery',
  tableName: 'delivery',
  indexes: [
    { properties: ['tenant', 'id'] },
    { properties: ['webhook', 'id'] },
    { properties: ['webhook', 'status', 'id'] },
    { properties: ['event', 'id'] },
    { properties: ['nextAttemptAt'] },
    // A webhook's planned deliveries in the order a worker pulls them (delivery/sql/flow.ts), and
    // how many wait (stats); ended ones have no next attempt and are not in it.
    { name: 'delivery_planned_by_webhook', properties: ['webhook', 'priority', 'nextAttemptAt'], where: 'next_attempt_at is not null' },
    // The waiting deliveries of each ordering key, in publish order: its head is the first.
    {
      name: 'delivery_waiting_by_key',
      properties: ['webhook', 'orderingKey', 'orderingSeq'],
      where: `ordering_key is not null and status in ${WAITING_SQL}`,
    },
  ],
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
