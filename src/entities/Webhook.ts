import { defineEntity, type InferEntity, p } from '@mikro-orm/core';
import { WEBHOOK_STATUSES } from '../core/delivery-state.ts';
import { ORDERINGS } from '../core/flow.ts';
import { THROTTLE_REASONS } from '../core/throttle.ts';
import { Tenant } from './Tenant.ts';

export const AUTH_TYPES = ['NONE', 'BEARER', 'BASIC', 'API_KEY', 'CUSTOM_HEADER'] as const;
export type WebhookAuthType = (typeof AUTH_TYPES)[number];

/** One signing secret, encrypted; old ones sign until `expiresAt` after a rotation. A webhook under a tenant-scoped profile has none of its own. */
export interface StoredSecret {
  encrypted: string;
  createdAt: string;
  expiresAt: string | null;
}

export interface CustomHeader {
  name: string;
  value: string;
}

/**
 * An endpoint. Soft-deleted (`deletedAt`) so its delivery log stays readable. An operator webhook
 * (created with the admin key, `operator: true`) belongs to no tenant (`tenant` null): it receives
 * every tenant's operational events, and only the admin key sees it.
 */
export const Webhook = defineEntity({
  name: 'Webhook',
  tableName: 'webhook',
  indexes: [{ properties: ['tenant', 'id'] }],
  properties: {
    id: p.string().primary(),
    tenant: () => p.manyToOne(Tenant).ref().nullable().deleteRule('cascade'),
    url: p.text(),
    description: p.text().nullable(),
    events: p.json<string[]>(),
    channels: p.json<string[]>().nullable(),
    status: p.enum(WEBHOOK_STATUSES).default('ACTIVE'),
    disabledReason: p.text().nullable(),
    /** Its own delivery profile; null: its tenant's, else HERALD_DEFAULT_PROFILE. */
    profile: p.string().nullable(),
    secrets: p.json<StoredSecret[]>(),
    authType: p.enum(AUTH_TYPES).default('NONE'),
    /** The auth settings (token, password, …) as encrypted JSON; never returned. */
    authEncrypted: p.text().nullable(),
    headers: p.json<CustomHeader[]>(),
    retrySchedule: p.json<number[]>().nullable(),
    timeoutMs: p.integer().default(15000),
    maxInFlight: p.integer().default(10),
    /** Deliveries (attempts) per second across all workers; null: no rate limit. */
    rateLimit: p.double().nullable(),
    /** Whether Herald lowers concurrency and rate when the endpoint pushes back (core/throttle.ts). */
    adaptiveThrottling: p.boolean().default(true),
    /** KEYED: events with the same orderingKey are delivered one at a time in publish order. */
    ordering: p.enum(ORDERINGS).default('NONE'),
    // The adaptive throttle in force (null when none), written by workers at most once a second.
    throttleConcurrency: p.integer().nullable(),
    throttleRate: p.double().nullable(),
    throttleReason: p.enum(THROTTLE_REASONS).nullable(),
    throttleSince: p.datetime().nullable(),
    /** When a worker last wrote the throttle: the once-a-second bound is kept on it. */
    throttleWrittenAt: p.datetime().nullable(),
    consecutiveFailures: p.integer().default(0),
    failingSince: p.datetime().nullable(),
    lastSuccessAt: p.datetime().nullable(),
    lastFailureAt: p.datetime().nullable(),
    createdAt: p.datetime().onCreate(() => new Date()),
    updatedAt: p
      .datetime()
      .onCreate(() => new Date())
      .onUpdate(() => new Date()),
    deletedAt: p.datetime().nullable(),
  },
});

export type IWebhook = InferEntity<typeof Webhook>;
