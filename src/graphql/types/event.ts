import type { EventRecord } from '../../entities/Event.ts';
import { type PublishInput, publishEvents } from '../../services/events.ts';
import { findEvent, listDeliveries, listEvents } from '../../services/history.ts';
import { builder } from '../builder.ts';
import { connectionOf } from './connection.ts';

export const EventRef = builder.objectRef<EventRecord>('Event');

/** The data as published: parsed back out of the stored body. */
const dataOf = (event: EventRecord) => (JSON.parse(event.payload) as { data: unknown }).data;

EventRef.implement({
  description: 'A published event.',
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.id({
      nullable: true,
      description: 'null for the operator webhooks’ copy of an operational event (its data names the tenant).',
      resolve: (e) => e.tenant?.id ?? null,
    }),
    type: t.exposeString('type'),
    channel: t.exposeString('channel', { nullable: true }),
    data: t.field({ type: 'JSON', resolve: dataOf }),
    idempotencyKey: t.exposeString('idempotencyKey', { nullable: true }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
  }),
});

export const EventConnection = connectionOf('Event', EventRef);

builder.queryField('events', (t) =>
  t.field({
    type: EventConnection,
    description: 'Published events, newest first.',
    args: {
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
      type: t.arg.string({ required: false }),
      tenantId: t.arg.id({ required: false }),
    },
    resolve: (_root, args, ctx) => listEvents(ctx, { type: args.type, tenantId: args.tenantId ?? null }, args),
  }),
);

builder.queryField('event', (t) =>
  t.field({
    type: EventRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => findEvent(ctx, args.id),
  }),
);

const PublishEventInput = builder.inputType('PublishEventInput', {
  fields: (t) => ({
    type: t.string({ required: true }),
    data: t.field({ type: 'JSON', required: true }),
    channel: t.string({ required: false, description: 'e.g. sms, whatsapp; matched against webhook channel filters.' }),
    idempotencyKey: t.string({ required: false, description: 'Same key and payload → the original event; different payload → CONFLICT.' }),
    orderingKey: t.string({
      required: false,
      description:
        'For webhooks with ordering KEYED: events with the same key (e.g. a message id) are delivered one at a time, in publish order (1–255 characters).',
    }),
    tenantId: t.id({ required: false }),
  }),
});

const PublishEventPayload = builder.objectRef<{ event: EventRecord; deliveryCount: number }>('PublishEventPayload').implement({
  fields: (t) => ({
    event: t.expose('event', { type: EventRef }),
    deliveryCount: t.exposeInt('deliveryCount', { description: 'Deliveries created: one per matching webhook.' }),
  }),
});

/** Pothos types a required JSON field as optional (`unknown` admits undefined); it is always there. */
const toInput = (input: Omit<PublishInput, 'data'> & { data?: unknown }): PublishInput => ({ ...input, data: input.data });

builder.mutationField('publishEvent', (t) =>
  t.field({
    type: PublishEventPayload,
    authScopes: { apiKey: true },
    args: { input: t.arg({ type: PublishEventInput, required: true }) },
    resolve: async (_root, { input }, ctx) => (await publishEvents(ctx, [toInput(input)]))[0],
  }),
);

builder.mutationField('publishEvents', (t) =>
  t.field({
    type: [PublishEventPayload],
    description: 'Up to 1 000 events in one transaction.',
    authScopes: { apiKey: true },
    args: { inputs: t.arg({ type: [PublishEventInput], required: true }) },
    resolve: (_root, { inputs }, ctx) => publishEvents(ctx, inputs.map(toInput)),
  }),
);

export { listDeliveries };
