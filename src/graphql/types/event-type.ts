import { resolveTenantId } from '../../services/caller.ts';
import { createEventType, type EventTypeView, listEventTypes, updateEventType } from '../../services/event-types.ts';
import { builder } from '../builder.ts';
import { PriorityEnum } from './delivery.ts';

export const EventTypeRef = builder.objectRef<EventTypeView>('EventType').implement({
  description: 'An entry of the event catalog: built in, platform-wide (created with the admin key), or a tenant’s own.',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    example: t.expose('example', { type: 'JSON', nullable: true }),
    archived: t.exposeBoolean('archived'),
    builtIn: t.exposeBoolean('builtIn'),
    priority: t.expose('priority', {
      type: PriorityEnum,
      description:
        'Its deliveries’ priority: a due HIGH delivery is sent before a backlog of NORMAL and LOW ones, to its endpoint and overall. Built-ins ship HIGH for message.optout, message.blocked and webhook.test, NORMAL otherwise; a tenant’s own type is always NORMAL.',
    }),
    tenantId: t.exposeID('tenantId', {
      nullable: true,
      description: 'The tenant of a tenant’s own type; null for built-in and platform-wide types.',
    }),
    operational: t.exposeBoolean('operational', {
      description:
        'Sent by Herald itself about webhooks and deliveries: a webhook receives it only by naming it ("*" does not include it); it cannot be published.',
    }),
  }),
});

builder.queryField('eventTypes', (t) =>
  t.field({
    type: [EventTypeRef],
    description: 'The built-in catalog, the platform-wide types and the tenant’s own (the admin key may pass tenantId).',
    args: { tenantId: t.arg.id({ required: false }) },
    resolve: async (_root, args, ctx) => {
      const tenantId =
        ctx.caller.kind === 'admin' && !args.tenantId ? null : await resolveTenantId(ctx.em, ctx.caller, args.tenantId ?? null);
      return listEventTypes(ctx.em, tenantId);
    },
  }),
);

const CreateEventTypeInput = builder.inputType('CreateEventTypeInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Letters, digits, `_`, `.` and `-`, e.g. `invoice.paid`, `MESSAGE_RECEIVED`.' }),
    description: t.string({ required: false }),
    example: t.field({ type: 'JSON', required: false }),
    tenantId: t.id({ required: false, description: 'With the admin key: the tenant’s own type; omitted, a platform-wide type.' }),
  }),
});

const UpdateEventTypeInput = builder.inputType('UpdateEventTypeInput', {
  fields: (t) => ({
    description: t.string({ required: false }),
    example: t.field({ type: 'JSON', required: false }),
    archived: t.boolean({ required: false, description: 'An archived type cannot be published or newly subscribed to.' }),
    priority: t.field({
      type: PriorityEnum,
      required: false,
      description:
        'Admin key only, built-in and platform-wide types only (FORBIDDEN otherwise); null restores the default. Applies to events published from then on.',
    }),
    tenantId: t.id({ required: false, description: 'With the admin key: a tenant’s own type (default: built-in or platform-wide).' }),
  }),
});

builder.mutationField('updateEventType', (t) =>
  t.field({
    type: EventTypeRef,
    description: 'The admin key changes built-in and platform-wide types; a tenant key its own.',
    args: { name: t.arg.string({ required: true }), input: t.arg({ type: UpdateEventTypeInput, required: true }) },
    resolve: (_root, args, ctx) => updateEventType(ctx, args.name, args.input),
  }),
);

builder.mutationField('createEventType', (t) =>
  t.field({
    type: EventTypeRef,
    args: { input: t.arg({ type: CreateEventTypeInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const tenantId = ctx.caller.kind === 'admin' && !input.tenantId ? null : await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
      return createEventType(ctx.em, tenantId, input);
    },
  }),
);
