import { requireAdmin } from '../../services/caller.ts';
import { type DeliveryPreview, previewDelivery } from '../../services/preview.ts';
import { deleteProfile, findProfile, listProfiles, type ProfileView, upsertProfile } from '../../services/profiles.ts';
import { builder } from '../builder.ts';
import { HeaderRef } from './webhook.ts';

export const DeliveryProfileRef = builder.objectRef<ProfileView>('DeliveryProfile').implement({
  description:
    'The wire contract of a delivery: body, headers, signature, secret format and scope, defaults (README, "Delivery profiles"; the definition’s JSON Schema is delivery-profile.schema.json).',
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description', { nullable: true }),
    definition: t.expose('definition', { type: 'JSON', description: 'With its defaults filled in.' }),
    builtIn: t.exposeBoolean('builtIn', { description: 'standard, stripe and hmac-sha256: Herald’s own contract, not editable.' }),
    version: t.exposeInt('version', {
      description: 'Each change of the definition makes a new version; published deliveries keep theirs.',
    }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('deliveryProfiles', (t) =>
  t.field({
    type: [DeliveryProfileRef],
    description: 'The built-in profiles, then the operators’ own by name.',
    resolve: (_root, _args, ctx) => listProfiles(ctx.em),
  }),
);

builder.queryField('deliveryProfile', (t) =>
  t.field({
    type: DeliveryProfileRef,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => findProfile(ctx.em, args.name),
  }),
);

const UpsertDeliveryProfileInput = builder.inputType('UpsertDeliveryProfileInput', {
  fields: (t) => ({
    name: t.string({ required: true, description: 'Lowercase letters, digits, ".", "_" or "-".' }),
    description: t.string({ required: false }),
    definition: t.field({ type: 'JSON', required: true }),
  }),
});

builder.mutationField('upsertDeliveryProfile', (t) =>
  t.field({
    type: DeliveryProfileRef,
    description:
      'Admin only. Creates or changes a profile; the definition is checked and tried on an example event before it is stored. A change applies to events published from then on.',
    authScopes: { admin: true },
    args: { input: t.arg({ type: UpsertDeliveryProfileInput, required: true }) },
    resolve: (_root, { input }, ctx) => upsertProfile(ctx, { ...input, definition: input.definition }),
  }),
);

const DeleteDeliveryProfilePayload = builder.objectRef<{ name: string }>('DeleteDeliveryProfilePayload').implement({
  fields: (t) => ({ name: t.exposeString('name') }),
});

builder.mutationField('deleteDeliveryProfile', (t) =>
  t.field({
    type: DeleteDeliveryProfilePayload,
    description: 'Admin only. CONFLICT while a tenant or webhook names it, or it is HERALD_DEFAULT_PROFILE.',
    authScopes: { admin: true },
    args: { name: t.arg.string({ required: true }) },
    resolve: (_root, args, ctx) => {
      requireAdmin(ctx.caller);
      return deleteProfile(ctx, args.name);
    },
  }),
);

const DeliveryPreviewRef = builder.objectRef<DeliveryPreview>('DeliveryPreview').implement({
  description: 'What an endpoint would receive: the exact body and the headers (auth and signatures redacted).',
  fields: (t) => ({
    profile: t.exposeString('profile'),
    body: t.exposeString('body'),
    headers: t.field({ type: [HeaderRef], resolve: (p) => p.headers }),
  }),
});

builder.queryField('deliveryPreview', (t) =>
  t.field({
    type: DeliveryPreviewRef,
    description: 'The body and headers the webhook would get for this event under the profile that applies to it. Nothing is sent.',
    args: {
      webhookId: t.arg.id({ required: true }),
      type: t.arg.string({ required: true }),
      data: t.arg({ type: 'JSON', required: true }),
      channel: t.arg.string({ required: false }),
    },
    resolve: (_root, args, ctx) => previewDelivery(ctx, { ...args, data: args.data }),
  }),
);
