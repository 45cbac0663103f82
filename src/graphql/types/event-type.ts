import { resolveTenantId } from '../../services/caller.ts';
import { createEventType, type EventTypeView, listEventTypes } from '../../services/event-types.ts';
import { builder } from '../builder.ts';

export const EventTypeRef = builder.objectRef<EventTypeView>('EventType').implement({
  description: 'An entry of the event catalog: built in, or a tenant’s own.',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    example: t.expose('example', { type: 'JSON', nullable: true }),
    archived: t.exposeBoolean('archived'),
    builtIn: t.exposeBoolean('builtIn'),
  }),
});

builder.queryField('eventTypes', (t) =>
  t.field({
    type: [EventTypeRef],
    description: 'The built-in catalog and the tenant’s own types (the admin key may pass tenantId).',
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
    name: t.string({ required: true, description: 'Lowercase dotted name, e.g. `invoice.paid`.' }),
    description: t.string({ required: false }),
    example: t.field({ type: 'JSON', required: false }),
    tenantId: t.id({ required: false }),
  }),
});

builder.mutationField('createEventType', (t) =>
  t.field({
    type: EventTypeRef,
    args: { input: t.arg({ type: CreateEventTypeInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const tenantId = await resolveTenantId(ctx.em, ctx.caller, input.tenantId ?? null);
      return createEventType(ctx.em, tenantId, input);
    },
  }),
);
