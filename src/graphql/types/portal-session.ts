import type { IPortalSession } from '../../entities/PortalSession.ts';
import { createPortalSession, MAX_PORTAL_SESSION_SECONDS, revokePortalSession } from '../../services/portal-sessions.ts';
import { builder } from '../builder.ts';

export const PortalSessionRef = builder.objectRef<IPortalSession>('PortalSession').implement({
  description: 'A customer portal session for one tenant. Its link’s code and its token are never shown again.',
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.id({ resolve: (s) => s.tenant.id }),
    readOnly: t.exposeBoolean('readOnly'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime' }),
    openedAt: t.expose('openedAt', { type: 'DateTime', nullable: true, description: 'When the link was used (it works once).' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true }),
  }),
});

const CreatePortalSessionInput = builder.inputType('CreatePortalSessionInput', {
  fields: (t) => ({
    tenantId: t.id({ required: false, description: 'Admin only: the tenant whose portal this opens.' }),
    expiresInSeconds: t.int({
      required: false,
      description: `How long the session (and its unused link) lasts: 1 to ${MAX_PORTAL_SESSION_SECONDS}, default 3600.`,
    }),
    readOnly: t.boolean({ required: false, description: 'Sees everything, changes nothing (default false).' }),
  }),
});

const CreatePortalSessionPayload = builder.objectRef<{ session: IPortalSession; url: string }>('CreatePortalSessionPayload').implement({
  fields: (t) => ({
    id: t.id({ resolve: ({ session }) => session.id }),
    url: t.exposeString('url', {
      description: 'The link to give the customer (or an iframe’s src): `<HERALD_PUBLIC_URL>/portal#code=…`, usable once. Shown once.',
    }),
    expiresAt: t.field({ type: 'DateTime', resolve: ({ session }) => session.expiresAt }),
    readOnly: t.boolean({ resolve: ({ session }) => session.readOnly }),
  }),
});

builder.mutationField('createPortalSession', (t) =>
  t.field({
    type: CreatePortalSessionPayload,
    description: 'Opens a customer portal link for a tenant (the admin key names it; a tenant key opens its own).',
    authScopes: { apiKey: true },
    args: { input: t.arg({ type: CreatePortalSessionInput, required: true }) },
    resolve: (_root, { input }, ctx) => createPortalSession(ctx, input, ctx.publicUrl),
  }),
);

builder.mutationField('revokePortalSession', (t) =>
  t.field({
    type: PortalSessionRef,
    description: 'Ends a portal session now (and its link, if unused).',
    authScopes: { apiKey: true },
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => revokePortalSession(ctx.em, ctx.caller, args.id),
  }),
);
