import { notFound } from '../../core/errors.ts';
import type { IApiKey } from '../../entities/ApiKey.ts';
import { type ITenant, Tenant } from '../../entities/Tenant.ts';
import { createApiKey, listApiKeys, revokeApiKey } from '../../services/api-keys.ts';
import { callerTenantId, requireAdmin, resolveTenantId } from '../../services/caller.ts';
import { effectiveProfile } from '../../services/profile-secrets.ts';
import { createTenant, updateTenant } from '../../services/tenants.ts';
import { builder } from '../builder.ts';

export const TenantRef = builder.objectRef<ITenant>('Tenant');
export const ApiKeyRef = builder.objectRef<IApiKey>('ApiKey');

TenantRef.implement({
  description: 'A customer of the platform.',
  fields: (t) => ({
    id: t.exposeID('id'),
    name: t.exposeString('name'),
    profile: t.exposeString('profile', {
      nullable: true,
      description: 'The delivery profile of its webhooks that name none; null: HERALD_DEFAULT_PROFILE.',
    }),
    deliveryProfile: t.string({
      description: 'The delivery profile that applies to its webhooks that name none: its own, else HERALD_DEFAULT_PROFILE.',
      resolve: (tenant, _args, ctx) => effectiveProfile(null, tenant.profile, ctx.config),
    }),
    externalId: t.exposeString('externalId', {
      nullable: true,
      description: 'The platform’s own id for this customer (profiles may send it as tenant.externalId).',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    apiKeys: t.field({
      type: [ApiKeyRef],
      description: 'The tenant’s API keys, newest first (secrets are never shown again). Not for portal sessions.',
      authScopes: { apiKey: true },
      resolve: (tenant, _args, ctx) => listApiKeys(ctx.em, tenant.id),
    }),
  }),
});

ApiKeyRef.implement({
  description: 'A tenant API key. Only its prefix is shown; the secret was shown once, at creation.',
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.id({ resolve: (key) => key.tenant.id }),
    name: t.exposeString('name'),
    prefix: t.exposeString('prefix'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

builder.queryField('tenant', (t) =>
  t.field({
    type: TenantRef,
    nullable: true,
    description: 'The caller’s own tenant; the admin key names one with `id`.',
    args: { id: t.arg.id({ required: false }) },
    resolve: async (_root, args, ctx) => {
      const own = callerTenantId(ctx.caller);
      const id = own ?? args.id;
      if (!id || (own && args.id && args.id !== own)) return null;
      return ctx.em.findOne(Tenant, { id });
    },
  }),
);

const CreateTenantInput = builder.inputType('CreateTenantInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    profile: t.string({
      required: false,
      description: 'Delivery profile of its webhooks that name none (default: HERALD_DEFAULT_PROFILE).',
    }),
    externalId: t.string({ required: false, description: 'The platform’s own id for this customer.' }),
  }),
});

const UpdateTenantInput = builder.inputType('UpdateTenantInput', {
  fields: (t) => ({
    name: t.string({ required: false }),
    profile: t.string({ required: false, description: 'null: HERALD_DEFAULT_PROFILE applies.' }),
    externalId: t.string({ required: false, description: 'null clears it.' }),
  }),
});

builder.mutationField('updateTenant', (t) =>
  t.field({
    type: TenantRef,
    description: 'Admin only. A new profile applies to its webhooks that name none, from the next event published.',
    authScopes: { admin: true },
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateTenantInput, required: true }) },
    resolve: (_root, args, ctx) => {
      requireAdmin(ctx.caller);
      return updateTenant(ctx, args.id, args.input);
    },
  }),
);

const CreateTenantPayload = builder.objectRef<{ tenant: ITenant; apiKey: string }>('CreateTenantPayload').implement({
  fields: (t) => ({
    tenant: t.expose('tenant', { type: TenantRef }),
    apiKey: t.exposeString('apiKey', { description: 'The tenant’s first API key (`hrld_…`). Shown once.' }),
  }),
});

builder.mutationField('createTenant', (t) =>
  t.field({
    type: CreateTenantPayload,
    description: 'Admin only. Creates a tenant and its first API key.',
    authScopes: { admin: true },
    args: { input: t.arg({ type: CreateTenantInput, required: true }) },
    resolve: (_root, { input }, ctx) => {
      requireAdmin(ctx.caller);
      return createTenant(ctx.em, input);
    },
  }),
);

const CreateApiKeyInput = builder.inputType('CreateApiKeyInput', {
  fields: (t) => ({
    name: t.string({ required: true }),
    tenantId: t.id({ required: false, description: 'Admin only: the tenant to create the key for.' }),
  }),
});

const CreateApiKeyPayload = builder.objectRef<{ apiKey: IApiKey; secret: string }>('CreateApiKeyPayload').implement({
  fields: (t) => ({
    apiKey: t.expose('apiKey', { type: ApiKeyRef }),
    secret: t.exposeString('secret', { description: 'The key itself (`hrld_…`). Shown once.' }),
  }),
});

builder.mutationField('createApiKey', (t) =>
  t.field({
    type: CreateApiKeyPayload,
    authScopes: { apiKey: true },
    args: { input: t.arg({ type: CreateApiKeyInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const tenantId = await resolveTenantId(ctx.em, ctx.caller, input.tenantId ?? null);
      return createApiKey(ctx.em, tenantId, input.name);
    },
  }),
);

builder.mutationField('revokeApiKey', (t) =>
  t.field({
    type: ApiKeyRef,
    authScopes: { apiKey: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => {
      const key = await revokeApiKey(ctx.em, ctx.caller, args.id);
      if (!key) throw notFound('ApiKey', args.id);
      return key;
    },
  }),
);
