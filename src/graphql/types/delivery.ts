import { ATTEMPT_TRIGGERS, DELIVERY_STATUSES } from '../../core/delivery-state.ts';
import { PRIORITIES } from '../../core/flow.ts';
import type { IAttempt } from '../../entities/Attempt.ts';
import type { IDelivery } from '../../entities/Delivery.ts';
import { replayFailedDeliveries, retryDelivery, sendTestEvent } from '../../services/deliveries.ts';
import { type SentBody, sentBody } from '../../services/event-bodies.ts';
import { findDelivery, listDeliveries } from '../../services/history.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { connectionOf } from './connection.ts';
import { EventRef } from './event.ts';
import { WebhookRef } from './webhook.ts';

export const DeliveryStatusEnum = builder.enumType('DeliveryStatus', { values: DELIVERY_STATUSES });
const AttemptTriggerEnum = builder.enumType('AttemptTrigger', { values: ATTEMPT_TRIGGERS });
export const PriorityEnum = builder.enumType('Priority', {
  values: PRIORITIES,
  description: 'An event type’s priority: a due HIGH delivery is sent before a backlog of NORMAL and LOW ones.',
});

export const AttemptRef = builder.objectRef<IAttempt>('Attempt').implement({
  description: 'One HTTP try of a delivery: what was sent (secrets redacted) and what came back.',
  fields: (t) => ({
    id: t.exposeID('id'),
    deliveryId: t.id({ resolve: (a) => a.delivery.id }),
    webhookId: t.exposeID('webhookId'),
    number: t.exposeInt('number'),
    trigger: t.expose('trigger', { type: AttemptTriggerEnum }),
    startedAt: t.expose('startedAt', { type: 'DateTime' }),
    durationMs: t.exposeInt('durationMs'),
    requestUrl: t.exposeString('requestUrl'),
    requestHeaders: t.expose('requestHeaders', { type: 'JSON' }),
    responseStatus: t.exposeInt('responseStatus', { nullable: true }),
    responseHeaders: t.expose('responseHeaders', { type: 'JSON', nullable: true }),
    responseBody: t.exposeString('responseBody', { nullable: true, description: 'The first 16 KiB.' }),
    error: t.exposeString('error', {
      nullable: true,
      description:
        'TIMEOUT, CONNECTION, DNS, TLS, BLOCKED_ADDRESS, REDIRECT, …; TRANSFORM: its delivery profile could not render the request (nothing was sent).',
    }),
    errorMessage: t.exposeString('errorMessage', { nullable: true }),
  }),
});

export const DeliveryRef = builder.objectRef<IDelivery>('Delivery');

DeliveryRef.implement({
  description: 'The state of getting one event to one webhook.',
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.id({ nullable: true, description: 'null for a delivery to an operator webhook.', resolve: (d) => d.tenant?.id ?? null }),
    webhookId: t.id({ resolve: (d) => d.webhook.id }),
    eventId: t.id({ resolve: (d) => d.event.id }),
    eventType: t.exposeString('eventType'),
    status: t.expose('status', { type: DeliveryStatusEnum }),
    attemptCount: t.exposeInt('attemptCount'),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true }),
    completedAt: t.expose('completedAt', { type: 'DateTime', nullable: true }),
    lastResponseStatus: t.exposeInt('lastResponseStatus', { nullable: true }),
    lastError: t.exposeString('lastError', { nullable: true }),
    priority: t.field({
      type: PriorityEnum,
      description: 'Its event type’s priority when it was published.',
      resolve: (d) => PRIORITIES[d.priority] ?? 'NORMAL',
    }),
    orderingKey: t.exposeString('orderingKey', {
      nullable: true,
      description: 'The event’s orderingKey, when its webhook is KEYED: it is sent after the earlier deliveries of that key have ended.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    webhook: t.field({ type: WebhookRef, resolve: (d) => d.webhook.load({ dataloader: true }) as never }),
    event: t.field({ type: EventRef, resolve: (d) => d.event.load({ dataloader: true }) as never }),
    profile: t.string({
      description: 'The delivery profile its event was published with: every attempt sends what that version rendered.',
      resolve: async (d, _args, ctx) => (await sentBodyOf(ctx, d)).profile,
    }),
    body: t.string({
      nullable: true,
      description:
        'The body every attempt sends, byte for byte as sent (the event’s envelope, or what its delivery profile rendered at publish); null when the profile could not render it (the attempt’s error is TRANSFORM).',
      resolve: async (d, _args, ctx) => (await sentBodyOf(ctx, d)).body,
    }),
    attempts: t.field({
      type: [AttemptRef],
      description: 'Every attempt, oldest first.',
      resolve: async (d) => {
        const attempts = await d.attempts.load({ dataloader: true });
        return [...attempts].sort((a, b) => a.number - b.number || a.id.localeCompare(b.id));
      },
    }),
  }),
});

/** A delivery's profile and body, read once per delivery and request however many of the two fields ask. */
const sentBodies = new WeakMap<IDelivery, Promise<SentBody>>();
function sentBodyOf(ctx: GraphQLContext, d: IDelivery): Promise<SentBody> {
  let found = sentBodies.get(d);
  if (!found) {
    found = sentBody(
      ctx.em,
      { eventId: d.event.id, profileVersion: d.profileVersion },
      async () => (await d.event.load({ dataloader: true }))!.payload,
    );
    sentBodies.set(d, found);
  }
  return found;
}

const DeliveryConnection = connectionOf('Delivery', DeliveryRef);

const DeliveryFilterInput = builder.inputType('DeliveryFilter', {
  fields: (t) => ({
    webhookId: t.id({ required: false }),
    eventId: t.id({ required: false }),
    status: t.field({ type: DeliveryStatusEnum, required: false }),
    eventType: t.string({ required: false }),
    since: t.field({ type: 'DateTime', required: false, description: 'Created at or after.' }),
    until: t.field({ type: 'DateTime', required: false, description: 'Created before.' }),
    tenantId: t.id({ required: false, description: 'Admin only: one tenant.' }),
  }),
});

builder.queryField('deliveries', (t) =>
  t.field({
    type: DeliveryConnection,
    description: 'Deliveries newest first.',
    args: {
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
      filter: t.arg({ type: DeliveryFilterInput, required: false }),
    },
    resolve: (_root, args, ctx) => listDeliveries(ctx, args.filter ?? {}, args),
  }),
);

builder.queryField('delivery', (t) =>
  t.field({
    type: DeliveryRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => findDelivery(ctx, args.id),
  }),
);

builder.objectField(EventRef, 'deliveries', (t) =>
  t.field({
    type: DeliveryConnection,
    args: { first: t.arg.int({ required: false }), after: t.arg.string({ required: false }) },
    resolve: (event, args, ctx) => listDeliveries(ctx, { eventId: event.id }, args),
  }),
);

builder.objectField(WebhookRef, 'deliveries', (t) =>
  t.field({
    type: DeliveryConnection,
    args: {
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
      status: t.arg({ type: DeliveryStatusEnum, required: false }),
      eventType: t.arg.string({ required: false }),
      since: t.arg({ type: 'DateTime', required: false }),
      until: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: (webhook, args, ctx) => listDeliveries(ctx, { ...args, webhookId: webhook.id }, args),
  }),
);

builder.mutationField('sendTestEvent', (t) =>
  t.field({
    type: DeliveryRef,
    description: 'Sends a `webhook.test` event to one webhook now (trigger TEST).',
    args: { webhookId: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => sendTestEvent(ctx, args.webhookId),
  }),
);

builder.mutationField('retryDelivery', (t) =>
  t.field({
    type: DeliveryRef,
    description: 'One new attempt now (trigger MANUAL), whatever the status.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => retryDelivery(ctx, args.id),
  }),
);

const ReplayPayload = builder.objectRef<{ count: number }>('ReplayPayload').implement({
  fields: (t) => ({
    count: t.exposeInt('count', {
      description: 'FAILED deliveries this call re-queued (not those already queued for a replayed or retried attempt).',
    }),
  }),
});

builder.mutationField('replayFailedDeliveries', (t) =>
  t.field({
    type: ReplayPayload,
    description:
      'Re-queues every FAILED delivery of a webhook created in [since, until), except those whose replayed or retried attempt is already queued or in flight.',
    args: {
      webhookId: t.arg.id({ required: true }),
      since: t.arg({ type: 'DateTime', required: true }),
      until: t.arg({ type: 'DateTime', required: false }),
    },
    resolve: async (_root, args, ctx) => ({
      count: await replayFailedDeliveries(ctx, { webhookId: args.webhookId, since: args.since, until: args.until }),
    }),
  }),
);
