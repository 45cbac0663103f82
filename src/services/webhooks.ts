import type { StoredAuth } from '../core/auth.ts';
import { WAITING_SQL, type WebhookStatus } from '../core/delivery-state.ts';
import { FieldErrors, notFound, validationError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { DEFAULT_RETRY_SCHEDULE } from '../core/retry.ts';
import { activeSecrets, encryptSecret, generateWebhookSecret } from '../core/secrets.ts';
import type { SignatureScheme } from '../core/signing.ts';
import { rawQuery } from '../db/raw-query.ts';
import { type CustomHeader, type IWebhook, type StoredSecret, Webhook } from '../entities/Webhook.ts';
import { type DeliveryIds, deliveryMessage, type LiveMessage, notifyLive, webhookStatusMessage } from '../live/messages.ts';
import { countCompleted } from '../metrics.ts';
import { resolveTenantId, tenantScope } from './caller.ts';
import type { ServiceContext } from './context.ts';
import { knownEventTypeNames } from './event-types.ts';
import { type Page, type PageArgs, paginate } from './pagination.ts';
import { RETURNING, type RequeuedRow, requeue } from './requeue.ts';
import {
  MAX_IN_FLIGHT,
  TIMEOUT_MS,
  validateAuth,
  validateChannels,
  validateEvents,
  validateHeaders,
  validateMaxInFlight,
  validateRetrySchedule,
  validateTimeout,
  validateUrl,
  type WebhookAuthInput,
} from './webhook-input.ts';

export const DEFAULT_GRACE_SECONDS = 24 * 3600;
const MAX_GRACE_SECONDS = 7 * 24 * 3600;
const MAX_OLD_SECRETS = 10;

export interface WebhookFields {
  url?: string | null;
  events?: string[] | null;
  description?: string | null;
  channels?: string[] | null;
  signatureScheme?: SignatureScheme | null;
  auth?: WebhookAuthInput | null;
  headers?: CustomHeader[] | null;
  retrySchedule?: number[] | null;
  timeoutMs?: number | null;
  maxInFlight?: number | null;
}

export interface CreateWebhookInput extends WebhookFields {
  url: string;
  events: string[];
  tenantId?: string | null;
}

export interface UpdateWebhookInput extends WebhookFields {
  status?: WebhookStatus | null;
}

/** Validates every given field at once, so a client sees all its mistakes in one answer. */
async function validateFields(ctx: ServiceContext, tenantId: string, input: WebhookFields, errors: FieldErrors) {
  const url = input.url != null ? validateUrl(errors, input.url, ctx.config.allowHttp) : undefined;
  if (input.events != null) validateEvents(errors, input.events, await knownEventTypeNames(ctx.em, tenantId));
  if (input.channels != null) validateChannels(errors, input.channels);
  if (input.description != null && input.description.length > 1000) errors.add('description', 'must be at most 1000 characters');
  if (input.timeoutMs != null) validateTimeout(errors, input.timeoutMs);
  if (input.maxInFlight != null) validateMaxInFlight(errors, input.maxInFlight);
  if (input.retrySchedule != null) validateRetrySchedule(errors, input.retrySchedule);
  if (input.headers != null) validateHeaders(errors, input.headers);
  const auth = input.auth != null ? validateAuth(errors, input.auth) : undefined;
  return { auth, url };
}

function encryptAuth(ctx: ServiceContext, auth: StoredAuth): string | null {
  return auth.type === 'NONE' ? null : encryptSecret(JSON.stringify(auth), ctx.encryptionKey);
}

export function effectiveRetrySchedule(webhook: IWebhook): readonly number[] {
  return webhook.retrySchedule ?? DEFAULT_RETRY_SCHEDULE;
}

export async function createWebhook(ctx: ServiceContext, input: CreateWebhookInput): Promise<{ webhook: IWebhook; secret: string }> {
  const tenantId = await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
  const errors = new FieldErrors();
  const { auth, url } = await validateFields(ctx, tenantId, input, errors);
  errors.throwIfAny();
  const count = await ctx.em.count(Webhook, { tenant: tenantId, deletedAt: null });
  if (count >= ctx.config.maxWebhooksPerTenant) {
    throw validationError([{ field: 'url', message: `a tenant may have at most ${ctx.config.maxWebhooksPerTenant} webhooks` }]);
  }
  const secret = generateWebhookSecret();
  const webhook = ctx.em.create(Webhook, {
    id: newId('wh'),
    tenant: tenantId,
    url: url!, // the normalised input.url (required): validateFields reported any problem above
    description: input.description ?? null,
    events: input.events,
    channels: input.channels ?? null,
    signatureScheme: input.signatureScheme ?? 'STANDARD',
    secrets: [{ encrypted: encryptSecret(secret, ctx.encryptionKey), createdAt: new Date().toISOString(), expiresAt: null }],
    authType: auth?.type ?? 'NONE',
    authEncrypted: auth ? encryptAuth(ctx, auth) : null,
    headers: input.headers ?? [],
    retrySchedule: input.retrySchedule ?? null,
    timeoutMs: input.timeoutMs ?? TIMEOUT_MS.default,
    maxInFlight: input.maxInFlight ?? MAX_IN_FLIGHT.default,
  });
  await ctx.em.flush();
  return { webhook, secret };
}

export async function findWebhook(ctx: ServiceContext, id: string): Promise<IWebhook | null> {
  return ctx.em.findOne(Webhook, { id, deletedAt: null, ...tenantScope(ctx.caller) });
}

export async function getWebhook(ctx: ServiceContext, id: string): Promise<IWebhook> {
  const webhook = await findWebhook(ctx, id);
  if (!webhook) throw notFound('Webhook', id);
  return webhook;
}

export async function listWebhooks(
  ctx: ServiceContext,
  args: PageArgs & { status?: WebhookStatus | null; tenantId?: string | null },
): Promise<Page<IWebhook>> {
  const scope = ctx.caller.kind === 'admin' && !args.tenantId ? {} : { tenant: await resolveTenantId(ctx.em, ctx.caller, args.tenantId) };
  return paginate(ctx.em, Webhook, { ...scope, deletedAt: null, ...(args.status ? { status: args.status } : {}) }, args);
}

/**
 * Changes a webhook's settings. A status change (pause, resume) takes effect at once: on resume
 * the deliveries parked while it was paused become due now, and subscribers of
 * webhookStatusChanged are told either way.
 */
export async function updateWebhook(ctx: ServiceContext, id: string, input: UpdateWebhookInput): Promise<IWebhook> {
  const webhook = await getWebhook(ctx, id);
  const errors = new FieldErrors();
  if (input.url === null) errors.add('url', 'cannot be null');
  if (input.events === null) errors.add('events', 'cannot be null');
  if (input.status === 'DISABLED') errors.add('status', 'can be set to ACTIVE or PAUSED; Herald disables webhooks itself');
  const { auth, url } = await validateFields(ctx, webhook.tenant.id, input, errors);
  errors.throwIfAny();

  if (url != null) webhook.url = url;
  if (input.events != null) webhook.events = input.events;
  if (input.description !== undefined) webhook.description = input.description;
  // An explicit null clears the channel filter; an absent field keeps it.
  if (input.channels !== undefined) webhook.channels = input.channels;
  if (input.signatureScheme != null) webhook.signatureScheme = input.signatureScheme;
  if (auth) {
    webhook.authType = auth.type;
    webhook.authEncrypted = encryptAuth(ctx, auth);
  }
  if (input.headers !== undefined) webhook.headers = input.headers ?? [];
  if (input.retrySchedule !== undefined) webhook.retrySchedule = input.retrySchedule;
  if (input.timeoutMs != null) webhook.timeoutMs = input.timeoutMs;
  if (input.maxInFlight != null) webhook.maxInFlight = input.maxInFlight;

  const from = webhook.status;
  if (input.status && input.status !== webhook.status) {
    webhook.status = input.status;
    if (input.status === 'ACTIVE') {
      // Re-enabling starts the failure clock afresh.
      webhook.disabledReason = null;
      webhook.consecutiveFailures = 0;
      webhook.failingSince = null;
    }
  }
  await ctx.em.flush();
  if (webhook.status !== from) await statusChanged(ctx, webhook, from);
  return webhook;
}

/** After a status change: a resumed webhook's parked deliveries are due now; subscribers are told. */
async function statusChanged(ctx: ServiceContext, webhook: IWebhook, from: WebhookStatus): Promise<void> {
  await ctx.em.fork().transactional(async (tx) => {
    if (from === 'PAUSED' && webhook.status === 'ACTIVE') {
      const parked = await rawQuery<RequeuedRow>(
        tx,
        `update delivery set next_attempt_at = now(), updated_at = now()
          where webhook_id = $1 and status in ${WAITING_SQL} and next_attempt_at is null
          ${RETURNING}`,
        [webhook.id],
      );
      await requeue(tx, ctx.boss, parked);
    }
    await notifyLive((sql, params) => rawQuery(tx, sql, params), [webhookMessage(webhook)]);
  });
}

function webhookMessage(webhook: IWebhook, deleted = webhook.deletedAt != null): LiveMessage {
  return webhookStatusMessage({ id: webhook.id, tenantId: webhook.tenant.id, status: webhook.status, deleted });
}

/**
 * Soft-deletes a webhook: it stops receiving, its waiting deliveries are cancelled, and its
 * delivery log stays readable until retention removes it. Subscribers are told of the delete
 * and of each cancelled delivery.
 */
export async function deleteWebhook(ctx: ServiceContext, id: string): Promise<IWebhook> {
  const webhook = await getWebhook(ctx, id);
  const now = new Date();
  const cancelled = await ctx.em.transactional(async (tx) => {
    await tx.nativeUpdate(Webhook, { id: webhook.id }, { deletedAt: now, updatedAt: now });
    // One statement that also says which deliveries it cancelled, so each is announced live
    // (the NOTIFY is delivered only if this transaction commits).
    const cancelled = await rawQuery<DeliveryIds>(
      tx,
      `update delivery set status = 'CANCELLED', completed_at = $2, next_attempt_at = null, updated_at = $2
        where webhook_id = $1 and status in ${WAITING_SQL}
        returning id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId"`,
      [webhook.id, now],
    );
    await notifyLive(
      (sql, params) => rawQuery(tx, sql, params),
      [...cancelled.map((d) => deliveryMessage(d, 'CANCELLED')), webhookMessage(webhook, true)],
    );
    return cancelled;
  });
  countCompleted(cancelled.map(() => 'CANCELLED' as const));
  webhook.deletedAt = now;
  return webhook;
}

/**
 * A new signing secret, returned once. The previous ones keep signing alongside it until
 * their grace period ends, so receivers can switch without dropping deliveries.
 */
export async function rotateWebhookSecret(
  ctx: ServiceContext,
  id: string,
  graceSeconds?: number | null,
): Promise<{ webhook: IWebhook; secret: string }> {
  const grace = graceSeconds ?? DEFAULT_GRACE_SECONDS;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw validationError([{ field: 'graceSeconds', message: `must be between 0 and ${MAX_GRACE_SECONDS}` }]);
  }
  const webhook = await getWebhook(ctx, id);
  const now = new Date();
  const expiresAt = new Date(now.getTime() + grace * 1000).toISOString();
  // The previous secrets sign until the grace period ends (or sooner, if theirs ends first).
  const old: StoredSecret[] =
    grace === 0
      ? []
      : activeSecrets(webhook.secrets, now)
          .map((s) => ({ ...s, expiresAt: s.expiresAt === null || s.expiresAt > expiresAt ? expiresAt : s.expiresAt }))
          .slice(0, MAX_OLD_SECRETS);
  const secret = generateWebhookSecret();
  webhook.secrets = [{ encrypted: encryptSecret(secret, ctx.encryptionKey), createdAt: now.toISOString(), expiresAt: null }, ...old];
  await ctx.em.flush();
  return { webhook, secret };
}
