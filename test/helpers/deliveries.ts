import { expect } from 'vitest';
import type { AttemptTrigger, DeliveryStatus } from '../../src/core/delivery-state.ts';
import type { GqlClient } from './herald.ts';

/** An attempt as GraphQL shows it. */
export interface AttemptView {
  id: string;
  number: number;
  trigger: AttemptTrigger;
  startedAt: string;
  durationMs: number;
  requestUrl: string;
  requestHeaders: Record<string, string>;
  responseStatus: number | null;
  responseHeaders: Record<string, string> | null;
  responseBody: string | null;
  error: string | null;
  errorMessage: string | null;
}

/** A delivery as GraphQL shows it, with its attempts oldest first. */
export interface DeliveryView {
  id: string;
  status: DeliveryStatus;
  eventId: string;
  eventType: string;
  webhookId: string;
  attemptCount: number;
  nextAttemptAt: string | null;
  lastAttemptAt: string | null;
  completedAt: string | null;
  lastResponseStatus: number | null;
  lastError: string | null;
  createdAt: string;
  attempts: AttemptView[];
}

export const DELIVERY_FIELDS = `
  id status eventId eventType webhookId attemptCount nextAttemptAt lastAttemptAt completedAt
  lastResponseStatus lastError createdAt
  attempts { id number trigger startedAt durationMs requestUrl requestHeaders responseStatus responseHeaders responseBody error errorMessage }`;

export interface WebhookInput {
  url: string;
  events?: string[];
  [field: string]: unknown;
}

/** Creates a webhook (events default to ["*"]); returns its id and signing secret. */
export async function createWebhook(h: GqlClient, key: string, input: WebhookInput): Promise<{ id: string; secret: string }> {
  const data = await h.ok<{ createWebhook: { webhook: { id: string }; secret: string } }>(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } secret } }',
    { input: { events: ['*'], ...input } },
    key,
  );
  return { id: data.createWebhook.webhook.id, secret: data.createWebhook.secret };
}

export async function updateWebhook(h: GqlClient, key: string, id: string, input: Record<string, unknown>) {
  const data = await h.ok<{ updateWebhook: { id: string; status: string; disabledReason: string | null } }>(
    'mutation($id: ID!, $input: UpdateWebhookInput!) { updateWebhook(id: $id, input: $input) { id status disabledReason } }',
    { id, input },
    key,
  );
  return data.updateWebhook;
}

/** A webhook's `stats { waiting }`: deliveries held back now. */
export async function waitingOf(h: GqlClient, key: string, id: string): Promise<number> {
  const data = await h.ok<{ webhook: { stats: { waiting: number } } }>(
    'query($id: ID!) { webhook(id: $id) { stats { waiting } } }',
    { id },
    key,
  );
  return data.webhook.stats.waiting;
}

export interface PublishInput {
  type?: string;
  data?: unknown;
  channel?: string | null;
  idempotencyKey?: string;
  orderingKey?: string;
  /** The admin key names the tenant it publishes for. */
  tenantId?: string;
}

export const PUBLISH_ONE = 'mutation($input: PublishEventInput!) { publishEvent(input: $input) { event { id } deliveryCount } }';

/** Publishes one event (type defaults to message.delivered); returns its id and delivery count. */
export async function publish(h: GqlClient, key: string, input: PublishInput = {}): Promise<{ eventId: string; deliveryCount: number }> {
  const data = await h.ok<{ publishEvent: { event: { id: string }; deliveryCount: number } }>(
    PUBLISH_ONE,
    { input: { type: 'message.delivered', data: { messageId: 'm1' }, ...input } },
    key,
  );
  return { eventId: data.publishEvent.event.id, deliveryCount: data.publishEvent.deliveryCount };
}

export const PUBLISH_MANY =
  'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id type channel } deliveryCount } }';

/** Publishes events in one call; returns each one's id, type, channel and delivery count. */
export async function publishEvents(
  h: GqlClient,
  key: string,
  inputs: PublishInput[],
): Promise<{ event: { id: string; type: string; channel: string | null }; deliveryCount: number }[]> {
  return (await h.ok(PUBLISH_MANY, { inputs }, key)).publishEvents;
}

/** Publishes `count` message.delivered events on channel sms in one call; returns their ids. */
export async function publishMany(h: GqlClient, key: string, count: number, tag = 'm'): Promise<string[]> {
  const inputs = Array.from({ length: count }, (_, i) => ({
    type: 'message.delivered',
    channel: 'sms',
    data: { messageId: `${tag}-${i}` },
  }));
  return (await publishEvents(h, key, inputs)).map((p) => p.event.id);
}

/** Every delivery matching `filter` (newest first), with attempts. */
export async function listDeliveries(h: GqlClient, key: string, filter: Record<string, unknown>): Promise<DeliveryView[]> {
  const data = await h.ok<{ deliveries: { edges: { node: DeliveryView }[] } }>(
    `query($filter: DeliveryFilter) { deliveries(first: 100, filter: $filter) { edges { node { ${DELIVERY_FIELDS} } } } }`,
    { filter },
    key,
  );
  return data.deliveries.edges.map((e) => e.node);
}

export async function getDelivery(h: GqlClient, key: string, id: string): Promise<DeliveryView> {
  const data = await h.ok<{ delivery: DeliveryView | null }>(`query($id: ID!) { delivery(id: $id) { ${DELIVERY_FIELDS} } }`, { id }, key);
  if (!data.delivery) throw new Error(`delivery ${id} not found`);
  return data.delivery;
}

/** The one delivery of an event to a webhook. */
export async function deliveryOf(h: GqlClient, key: string, eventId: string, webhookId: string): Promise<DeliveryView> {
  const [delivery, ...more] = await listDeliveries(h, key, { eventId, webhookId });
  expect(more).toHaveLength(0);
  if (!delivery) throw new Error(`no delivery of ${eventId} to ${webhookId}`);
  return delivery;
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

/** Polls a delivery until it has a final status (or `status`), then returns it. */
export async function waitForDelivery(
  h: GqlClient,
  key: string,
  id: string,
  options: { status?: DeliveryView['status']; timeout?: number } = {},
): Promise<DeliveryView> {
  let last: DeliveryView | undefined;
  await expect
    .poll(
      async () => {
        last = await getDelivery(h, key, id);
        return options.status ? last.status : FINAL.has(last.status);
      },
      { timeout: options.timeout ?? 30_000, interval: 100 },
    )
    .toBe(options.status ?? true);
  return last!;
}

export async function getWebhookStatus(h: GqlClient, key: string, id: string): Promise<{ status: string; disabledReason: string | null }> {
  const data = await h.ok<{ webhook: { status: string; disabledReason: string | null } }>(
    'query($id: ID!) { webhook(id: $id) { status disabledReason } }',
    { id },
    key,
  );
  return data.webhook;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` once `ms` have passed: a wait of a test never hangs until the test's own timeout. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Polls `check` until it returns a truthy value, and returns that value. For hooks, where
 * `expect.poll` is not available; tests use `expect.poll`.
 */
export async function waitUntil<T>(
  check: () => T | Promise<T>,
  options: { timeout?: number; interval?: number; message?: string } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeout ?? 10_000);
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting${options.message ? ` for ${options.message}` : ''}`);
    await sleep(options.interval ?? 50);
  }
}
