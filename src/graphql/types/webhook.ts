import { readAuth } from '../../core/auth.ts';
import { WEBHOOK_STATUSES } from '../../core/delivery-state.ts';
import { ORDERINGS } from '../../core/flow.ts';
import { schemeOfProfile } from '../../core/profiles/builtins.ts';
import { activeSecrets } from '../../core/secrets.ts';
import { SIGNATURE_SCHEMES } from '../../core/signing.ts';
import { THROTTLE_REASONS, type Throttle } from '../../core/throttle.ts';
import { AUTH_TYPES, type IWebhook } from '../../entities/Webhook.ts';
import { effectiveProfile } from '../../services/profile-secrets.ts';
import {
  createWebhook,
  deleteWebhook,
  effectiveRetrySchedule,
  findWebhook,
  listWebhooks,
  rotateWebhookSecret,
  updateWebhook,
} from '../../services/webhooks.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { connectionOf } from './connection.ts';

export const WebhookStatusEnum = builder.enumType('WebhookStatus', { values: WEBHOOK_STATUSES });
export const SignatureSchemeEnum = builder.enumType('SignatureScheme', { values: SIGNATURE_SCHEMES });
export const WebhookAuthTypeEnum = builder.enumType('WebhookAuthType', {
  values: AUTH_TYPES,
  description: 'Outbound authentication. API_KEY sends `x-api-key`.',
});

interface AuthView {
  type: (typeof AUTH_TYPES)[number];
  username: string | null;
  headerName: string | null;
}

const WebhookAuthRef = builder.objectRef<AuthView>('WebhookAuth').implement({
  description: 'How Herald authenticates to the endpoint. Tokens and passwords are never returned.',
  fields: (t) => ({
    type: t.expose('type', { type: WebhookAuthTypeEnum }),
    username: t.exposeString('username', { nullable: true }),
    headerName: t.exposeString('headerName', { nullable: true }),
  }),
});

export const WebhookOrderingEnum = builder.enumType('WebhookOrdering', {
  values: ORDERINGS,
  description: 'NONE: any order. KEYED: events with the same orderingKey one at a time, in publish order.',
});

const ThrottleReasonEnum = builder.enumType('ThrottleReason', {
  values: THROTTLE_REASONS,
  description:
    'What lowered the limits last: HTTP_429 or HTTP_503 answers, TIMEOUT, or SLOW (response times averaging over twice the endpoint’s usual and over 1 s).',
});

const WebhookThrottleRef = builder.objectRef<Throttle>('WebhookThrottle').implement({
  description: 'Limits Herald set below the configured ones because the endpoint pushed back (adaptive throttling).',
  fields: (t) => ({
    concurrency: t.exposeInt('concurrency', { description: 'Requests at once, across all workers (at most maxInFlight).' }),
    rate: t.exposeFloat('rate', { nullable: true, description: 'Deliveries a second, across all workers; null: only rateLimit, if any.' }),
    reason: t.expose('reason', { type: ThrottleReasonEnum }),
    since: t.expose('since', { type: 'DateTime', description: 'When the throttle began.' }),
  }),
});

export const HeaderRef = builder.objectRef<{ name: string; value: string }>('Header').implement({
  fields: (t) => ({ name: t.exposeString('name'), value: t.exposeString('value') }),
});

export const WebhookRef = builder.objectRef<IWebhook>('Webhook');

/** The profile that applies to a webhook (its tenant loaded in one query per request for a list). */
async function appliedProfile(ctx: GraphQLContext, webhook: IWebhook): Promise<string> {
  if (webhook.profile || !webhook.tenant) return webhook.profile ?? ctx.config.defaultProfile;
  const tenant = await webhook.tenant.load({ dataloader: true });
  return effectiveProfile(null, tenant?.profile, ctx.config);
}

WebhookRef.implement({
  description: 'A customer endpoint that receives signed event deliveries.',
  fields: (t) => ({
    id: t.exposeID('id'),
    tenantId: t.id({ nullable: true, description: 'null for an operator webhook.', resolve: (w) => w.tenant?.id ?? null }),
    operator: t.boolean({
      description: 'An operator webhook: of no tenant, it receives every tenant’s operational events it names. Only the admin key sees it.',
      resolve: (w) => !w.tenant,
    }),
    url: t.exposeString('url'),
    description: t.exposeString('description', { nullable: true }),
    events: t.exposeStringList('events'),
    channels: t.exposeStringList('channels', { nullable: true }),
    status: t.expose('status', { type: WebhookStatusEnum }),
    disabledReason: t.exposeString('disabledReason', { nullable: true }),
    profile: t.exposeString('profile', {
      nullable: true,
      description: 'The webhook’s own delivery profile; null: its tenant’s applies (else HERALD_DEFAULT_PROFILE).',
    }),
    deliveryProfile: t.string({
      description: 'The delivery profile that applies to new events: its own, else its tenant’s, else HERALD_DEFAULT_PROFILE.',
      resolve: (w, _args, ctx) => appliedProfile(ctx, w),
    }),
    signatureScheme: t.field({
      type: SignatureSchemeEnum,
      nullable: true,
      description: 'The built-in profile that applies, by its older name; null under any other profile.',
      resolve: async (w, _args, ctx) => schemeOfProfile(await appliedProfile(ctx, w)),
    }),
    auth: t.field({
      type: WebhookAuthRef,
      resolve: (w, _args, ctx) => {
        const auth = readAuth(w, ctx.encryptionKey);
        return {
          type: auth.type,
          username: auth.type === 'BASIC' ? auth.username : null,
          headerName: auth.type === 'CUSTOM_HEADER' ? auth.headerName : auth.type === 'API_KEY' ? 'x-api-key' : null,
        };
      },
    }),
    headers: t.field({ type: [HeaderRef], resolve: (w) => w.headers }),
    retrySchedule: t.intList({
      description: 'Seconds between attempts (the default schedule unless the webhook sets its own).',
      resolve: (w) => [...effectiveRetrySchedule(w)],
    }),
    timeoutMs: t.exposeInt('timeoutMs'),
    maxInFlight: t.exposeInt('maxInFlight', { description: 'Requests open to the endpoint at once, across all workers.' }),
    rateLimit: t.float({
      nullable: true,
      description: 'Deliveries a second at most, across all workers, evenly spaced; every attempt counts. null: no limit.',
      resolve: (w) => numberOrNull(w.rateLimit),
    }),
    adaptiveThrottling: t.exposeBoolean('adaptiveThrottling', {
      description: 'Whether Herald lowers concurrency and rate when the endpoint answers 429/503, times out or slows down.',
    }),
    ordering: t.expose('ordering', { type: WebhookOrderingEnum }),
    throttle: t.field({
      type: WebhookThrottleRef,
      nullable: true,
      description: 'The limits in force below the configured ones; null when none.',
      resolve: (w) =>
        w.adaptiveThrottling && w.throttleConcurrency != null && w.throttleReason != null && w.throttleSince != null
          ? { concurrency: w.throttleConcurrency, rate: numberOrNull(w.throttleRate), reason: w.throttleReason, since: w.throttleSince }
          : null,
    }),
    secretCount: t.int({
      description: 'How many secrets sign deliveries now (more than 1 during a rotation grace period).',
      resolve: (w) => activeSecrets(w.secrets).length,
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    // webhookStatusChanged also announces deletes; a delete leaves the status as it was, so this
    // is how a subscriber tells it apart (null for a webhook that exists).
    deletedAt: t.expose('deletedAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When the webhook was deleted (shown by webhookStatusChanged).',
    }),
  }),
});

/** A double precision column (node-postgres reads it as a number; MikroORM types it loosely). */
function numberOrNull(value: number | string | null | undefined): number | null {
  return value == null ? null : Number(value);
}

const WebhookConnection = connectionOf('Webhook', WebhookRef);

builder.queryField('webhooks', (t) =>
  t.field({
    type: WebhookConnection,
    description:
      'The tenant’s webhooks, newest first. The admin key sees every tenant’s and the operator webhooks unless tenantId is given.',
    args: {
      first: t.arg.int({ required: false }),
      after: t.arg.string({ required: false }),
      status: t.arg({ type: WebhookStatusEnum, required: false }),
      tenantId: t.arg.id({ required: false }),
      operator: t.arg.boolean({ required: false, description: 'true: operator webhooks only; false: tenants’ only.' }),
    },
    resolve: (_root, args, ctx) => listWebhooks(ctx, { ...args, tenantId: args.tenantId ?? null }),
  }),
);

builder.queryField('webhook', (t) =>
  t.field({
    type: WebhookRef,
    nullable: true,
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, args, ctx) => findWebhook(ctx, args.id),
  }),
);

const HeaderInput = builder.inputType('HeaderInput', {
  fields: (t) => ({ name: t.string({ required: true }), value: t.string({ required: true }) }),
});

const WebhookAuthInput = builder.inputType('WebhookAuthInput', {
  fields: (t) => ({
    type: t.field({ type: WebhookAuthTypeEnum, required: true }),
    token: t.string({ required: false, description: 'BEARER and API_KEY.' }),
    username: t.string({ required: false, description: 'BASIC.' }),
    password: t.string({ required: false, description: 'BASIC.' }),
    headerName: t.string({ required: false, description: 'CUSTOM_HEADER.' }),
    headerValue: t.string({ required: false, description: 'CUSTOM_HEADER.' }),
  }),
});

const SIGNATURE_SCHEME_INPUT = {
  type: SignatureSchemeEnum,
  required: false,
  description: 'Alias of profile standard, stripe or hmac-sha256.',
} as const;

const CreateWebhookInput = builder.inputType('CreateWebhookInput', {
  fields: (t) => ({
    url: t.string({ required: true }),
    events: t.stringList({
      required: true,
      description:
        'Event type names, or ["*"] for all but the operational ones (webhook.disabled, webhook.enabled, delivery.exhausted, delivery.recovered), which are named: ["*", "delivery.exhausted"].',
    }),
    description: t.string({ required: false }),
    channels: t.stringList({ required: false, description: 'Only events of these channels (e.g. sms, whatsapp).' }),
    profile: t.string({ required: false, description: 'Its own delivery profile (default: its tenant’s, else HERALD_DEFAULT_PROFILE).' }),
    signatureScheme: t.field(SIGNATURE_SCHEME_INPUT),
    secret: t.string({
      required: false,
      description: 'An existing signing secret to import, in the profile’s secret format (default: a new one is generated).',
    }),
    auth: t.field({ type: WebhookAuthInput, required: false }),
    headers: t.field({ type: [HeaderInput], required: false }),
    retrySchedule: t.intList({
      required: false,
      description: 'Seconds between attempts; [] means a single attempt (default: the profile’s).',
    }),
    timeoutMs: t.int({ required: false, description: 'Default: the profile’s, else 15000.' }),
    maxInFlight: t.int({ required: false }),
    rateLimit: t.float({ required: false, description: 'Deliveries a second across all workers (0.1–10 000); omit for none.' }),
    adaptiveThrottling: t.boolean({ required: false, description: 'Default true.' }),
    ordering: t.field({ type: WebhookOrderingEnum, required: false, description: 'Default NONE.' }),
    tenantId: t.id({ required: false }),
    operator: t.boolean({
      required: false,
      description:
        'Admin key only: an operator webhook, of no tenant (no tenantId), receiving every tenant’s operational events it names ("*": all of them). Not counted in HERALD_MAX_WEBHOOKS.',
    }),
  }),
});

const UpdateWebhookInput = builder.inputType('UpdateWebhookInput', {
  fields: (t) => ({
    url: t.string({ required: false }),
    events: t.stringList({ required: false }),
    description: t.string({ required: false }),
    channels: t.stringList({ required: false, description: 'null removes the channel filter.' }),
    profile: t.string({ required: false, description: 'null: its tenant’s profile applies again.' }),
    signatureScheme: t.field(SIGNATURE_SCHEME_INPUT),
    secret: t.string({
      required: false,
      description: 'A signing secret to import, replacing the current ones at once (e.g. when the new profile needs another format).',
    }),
    auth: t.field({ type: WebhookAuthInput, required: false }),
    headers: t.field({ type: [HeaderInput], required: false }),
    retrySchedule: t.intList({ required: false, description: 'null restores the default schedule.' }),
    timeoutMs: t.int({ required: false }),
    maxInFlight: t.int({ required: false }),
    rateLimit: t.float({ required: false, description: 'null removes the rate limit.' }),
    adaptiveThrottling: t.boolean({ required: false }),
    ordering: t.field({
      type: WebhookOrderingEnum,
      required: false,
      description: 'From KEYED to NONE, deliveries waiting behind their keys are due at once.',
    }),
    status: t.field({ type: WebhookStatusEnum, required: false, description: 'ACTIVE or PAUSED.' }),
  }),
});

const WebhookSecretPayload = (name: string) =>
  builder.objectRef<{ webhook: IWebhook; secret: string | null }>(name).implement({
    fields: (t) => ({
      webhook: t.expose('webhook', { type: WebhookRef }),
      secret: t.exposeString('secret', {
        nullable: true,
        description:
          'The signing secret, in the profile’s format (`whsec_…` for the built-ins). Shown once. Null when the profile does not sign, or its secret is tenant-scoped and already existed.',
      }),
    }),
  });

const CreateWebhookPayload = WebhookSecretPayload('CreateWebhookPayload');
const RotateWebhookSecretPayload = WebhookSecretPayload('RotateWebhookSecretPayload');

const DeleteWebhookPayload = builder.objectRef<{ id: string }>('DeleteWebhookPayload').implement({
  fields: (t) => ({ id: t.exposeID('id') }),
});

builder.mutationField('createWebhook', (t) =>
  t.field({
    type: CreateWebhookPayload,
    args: { input: t.arg({ type: CreateWebhookInput, required: true }) },
    resolve: (_root, { input }, ctx) => createWebhook(ctx, { ...input, tenantId: input.tenantId ?? null }),
  }),
);

builder.mutationField('updateWebhook', (t) =>
  t.field({
    type: WebhookRef,
    args: { id: t.arg.id({ required: true }), input: t.arg({ type: UpdateWebhookInput, required: true }) },
    resolve: (_root, args, ctx) => updateWebhook(ctx, args.id, args.input),
  }),
);

builder.mutationField('deleteWebhook', (t) =>
  t.field({
    type: DeleteWebhookPayload,
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, args, ctx) => ({ id: (await deleteWebhook(ctx, args.id)).id }),
  }),
);

builder.mutationField('rotateWebhookSecret', (t) =>
  t.field({
    type: RotateWebhookSecretPayload,
    args: {
      id: t.arg.id({ required: true }),
      graceSeconds: t.arg.int({ required: false, description: 'How long the previous secret keeps signing (default 86400).' }),
      secret: t.arg.string({ required: false, description: 'An existing secret to import, in the profile’s secret format.' }),
    },
    resolve: (_root, args, ctx) => rotateWebhookSecret(ctx, args.id, args.graceSeconds, args.secret),
  }),
);
