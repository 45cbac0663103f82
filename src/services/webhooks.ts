import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely } from 'pg-boss';
import { parseCidrs } from '../core/address.ts';
import type { StoredAuth } from '../core/auth.ts';
import { owedCandidatesSql, WAITING_SQL, type WebhookStatus } from '../core/delivery-state.ts';
import { FieldErrors, notFound, validationError } from '../core/errors.ts';
import type { Ordering } from '../core/flow.ts';
import { newId } from '../core/ids.ts';
import { OPERATIONAL_EVENT_TYPES, WEBHOOK_ENABLED } from '../core/operational-events.ts';
import { profileOfScheme } from '../core/profiles/builtins.ts';
import { DEFAULT_RETRY_SCHEDULE } from '../core/retry.ts';
import { activeSecrets, encryptSecret, generateSecret } from '../core/secrets.ts';
import type { SignatureScheme } from '../core/signing.ts';
import { rawQuery } from '../db/raw-query.ts';
import { type CustomHeader, type IWebhook, type StoredSecret, Webhook } from '../entities/Webhook.ts';
import { type DeliveryIds, deliveryMessage, type LiveMessage, notifyLive, webhookStatusMessage } from '../live/messages.ts';
import { countCompleted } from '../metrics.ts';
import { emitNotices } from '../outbox/notices.ts';
import { requireAdmin, resolveTenantId, tenantScope } from './caller.ts';
import type { ServiceContext } from './context.ts';
import { knownEventTypeNames } from './event-types.ts';
import { type Page, type PageArgs, paginate } from './pagination.ts';
import {
  checkImportedSecret,
  currentDefinition,
  effectiveProfile,
  insertTenantSecret,
  refitSecrets,
  secretOfNewWebhook,
  storedSecret,
  tenantProfile,
  tenantSecrets,
  updateTenantSecrets,
} from './profile-secrets.ts';
import { lockProfile } from './profiles.ts';
import { RETURNING, type RequeuedRow, requeue } from './requeue.ts';
import {
  MAX_IN_FLIGHT,
  TIMEOUT_MS,
  validateAuth,
  validateChannels,
  validateEvents,
  validateHeaders,
  validateMaxInFlight,
  validateRateLimit,
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
  /** The webhook's own delivery profile; null (on update) clears it: the tenant's applies. */
  profile?: string | null;
  /** Alias of the built-in profiles `standard`, `stripe`, `hmac-sha256`. */
  signatureScheme?: SignatureScheme | null;
  /** An existing secret to import (in the profile's secret format) instead of a generated one. */
  secret?: string | null;
  auth?: WebhookAuthInput | null;
  headers?: CustomHeader[] | null;
  retrySchedule?: number[] | null;
  timeoutMs?: number | null;
  maxInFlight?: number | null;
  /** Deliveries a second across all workers; null: none. */
  rateLimit?: number | null;
  adaptiveThrottling?: boolean | null;
  ordering?: Ordering | null;
}

export interface CreateWebhookInput extends WebhookFields {
  url: string;
  events: string[];
  tenantId?: string | null;
  /** An operator webhook (admin key only): no tenant; every tenant's operational events it names ("*": all of them). */
  operator?: boolean | null;
}

export interface UpdateWebhookInput extends WebhookFields {
  status?: WebhookStatus | null;
}

/**
 * Validates every given field at once, so a client sees all its mistakes in one answer. An
 * operator webhook (`tenantId` null) takes operational event names only, and no channels.
 */
async function validateFields(
  ctx: ServiceContext,
  tenantId: string | null,
  input: WebhookFields,
  errors: FieldErrors,
  subscribed: string[] = [],
) {
  const url = input.url != null ? validateUrl(errors, input.url, ctx.config.allowHttp, parseCidrs(ctx.config.allowedCidrs)) : undefined;
  if (input.events != null) {
    const known = tenantId === null ? new Set<string>(OPERATIONAL_EVENT_TYPES) : await knownEventTypeNames(ctx.em, tenantId);
    validateEvents(errors, input.events, known, subscribed);
  }
  if (input.channels != null) {
    if (tenantId === null) errors.add('channels', 'an operator webhook receives operational events, which have no channel');
    else validateChannels(errors, input.channels);
  }
  if (input.description != null && input.description.length > 1000) errors.add('description', 'must be at most 1000 characters');
  if (input.timeoutMs != null) validateTimeout(errors, input.timeoutMs);
  if (input.maxInFlight != null) validateMaxInFlight(errors, input.maxInFlight);
  if (input.rateLimit != null) validateRateLimit(errors, input.rateLimit);
  if (input.retrySchedule != null) validateRetrySchedule(errors, input.retrySchedule);
  if (input.headers != null) validateHeaders(errors, input.headers);
  const auth = input.auth != null ? validateAuth(errors, input.auth) : undefined;
  return { auth, url, ownProfile: ownProfileOf(input, errors) };
}

/**
 * The webhook's own profile as `profile` and its alias `signatureScheme` give it: undefined when
 * neither is given, null when `profile` clears it. The two must agree when both are given.
 */
function ownProfileOf(input: WebhookFields, errors: FieldErrors): string | null | undefined {
  const alias = input.signatureScheme ? profileOfScheme(input.signatureScheme) : undefined;
  if (input.profile !== undefined && alias !== undefined && input.profile !== alias) {
    errors.add('signatureScheme', `${input.signatureScheme} is profile "${alias}", but profile is ${JSON.stringify(input.profile)}`);
  }
  return input.profile !== undefined ? input.profile : alias;
}

/** The profile that applies once `own` is the webhook's own; adds an error if it does not exist. */
async function resolveProfile(
  tx: EntityManager,
  ctx: ServiceContext,
  tenantId: string | null,
  own: string | null | undefined,
  errors: FieldErrors,
) {
  if (own != null && !(await lockProfile(tx, own))) {
    errors.add('profile', `no delivery profile is named "${own}"`);
    return null;
  }
  const name = effectiveProfile(own, tenantId === null ? null : await tenantProfile(tx, tenantId), ctx.config);
  const definition = await currentDefinition(tx, name);
  if (!definition) errors.add('profile', `the profile that would apply, "${name}", does not exist`);
  else if (tenantId === null && definition.secret.scope === 'TENANT') {
    // An operator webhook has no tenant whose secret it could sign with.
    errors.add('profile', `profile "${name}" signs with a tenant's secret; an operator webhook belongs to no tenant`);
    return null;
  }
  return definition && { name, definition };
}

function encryptAuth(ctx: ServiceContext, auth: StoredAuth): string | null {
  return auth.type === 'NONE' ? null : encryptSecret(JSON.stringify(auth), ctx.encryptionKey);
}

export function effectiveRetrySchedule(webhook: IWebhook): readonly number[] {
  return webhook.retrySchedule ?? DEFAULT_RETRY_SCHEDULE;
}

/**
 * Registers an endpoint under its profile (its own, its tenant's or the deployment's): the
 * profile's defaults fill `retrySchedule` and `timeoutMs` unless given. With `operator: true`
 * (admin key only: FORBIDDEN otherwise) it is an operator webhook of no tenant, outside
 * HERALD_MAX_WEBHOOKS, under its own profile or the deployment's. The signing secret, imported
 * or generated, is returned once — null when the profile does not sign or its tenant-scoped
 * secret already existed.
 */
export async function createWebhook(ctx: ServiceContext, input: CreateWebhookInput): Promise<{ webhook: IWebhook; secret: string | null }> {
  const operator = input.operator === true;
  if (operator) {
    requireAdmin(ctx.caller);
    if (input.tenantId) throw validationError([{ field: 'tenantId', message: 'an operator webhook belongs to no tenant' }]);
  }
  const tenantId = operator ? null : await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
  const errors = new FieldErrors();
  const { auth, url, ownProfile } = await validateFields(ctx, tenantId, input, errors);
  return ctx.em.transactional(async (tx) => {
    const profile = await resolveProfile(tx, ctx, tenantId, ownProfile, errors);
    if (profile) checkImportedSecret(errors, profile.definition, input.secret, profile.name);
    errors.throwIfAny();
    const count = tenantId === null ? 0 : await tx.count(Webhook, { tenant: tenantId, deletedAt: null });
    if (count >= ctx.config.maxWebhooksPerTenant) {
      throw validationError([{ field: 'url', message: `a tenant may have at most ${ctx.config.maxWebhooksPerTenant} webhooks` }]);
    }
    const { name, definition } = profile!;
    const { own, shown } = await secretOfNewWebhook(ctx, tx, { tenantId, profile: name, definition, imported: input.secret }, errors);
    errors.throwIfAny();
    const webhook = tx.create(Webhook, {
      id: newId('wh'),
      tenant: tenantId,
      url: url!, // the normalised input.url (required): validateFields reported any problem above
      description: input.description ?? null,
      events: input.events,
      channels: input.channels ?? null,
      profile: ownProfile ?? null,
      secrets: own,
      authType: auth?.type ?? 'NONE',
      authEncrypted: auth ? encryptAuth(ctx, auth) : null,
      headers: input.headers ?? [],
      retrySchedule: input.retrySchedule ?? definition.defaults.retrySchedule ?? null,
      timeoutMs: input.timeoutMs ?? definition.defaults.timeoutMs ?? TIMEOUT_MS.default,
      maxInFlight: input.maxInFlight ?? MAX_IN_FLIGHT.default,
      rateLimit: input.rateLimit ?? null,
      adaptiveThrottling: input.adaptiveThrottling ?? true,
      ordering: input.ordering ?? 'NONE',
    });
    return { webhook, secret: shown };
  });
}

export async function findWebhook(ctx: ServiceContext, id: string): Promise<IWebhook | null> {
  return ctx.em.findOne(Webhook, { id, deletedAt: null, ...tenantScope(ctx.caller) });
}

export async function getWebhook(ctx: ServiceContext, id: string): Promise<IWebhook> {
  const webhook = await findWebhook(ctx, id);
  if (!webhook) throw notFound('Webhook', id);
  return webhook;
}

/**
 * The caller's webhooks, newest first. The admin key sees every tenant's and the operator webhooks
 * unless it names a tenant; `operator` keeps only operator webhooks (true) or only tenants' (false).
 */
export async function listWebhooks(
  ctx: ServiceContext,
  args: PageArgs & { status?: WebhookStatus | null; tenantId?: string | null; operator?: boolean | null },
): Promise<Page<IWebhook>> {
  const scope = ctx.caller.kind === 'admin' && !args.tenantId ? {} : { tenant: await resolveTenantId(ctx.em, ctx.caller, args.tenantId) };
  const kind = args.operator == null ? {} : { tenant: args.operator ? null : { $ne: null } };
  return paginate(ctx.em, Webhook, { $and: [scope, kind], deletedAt: null, ...(args.status ? { status: args.status } : {}) }, args);
}

/**
 * Changes a webhook's settings. A new profile or an imported secret must leave it able to sign
 * (profile-secrets.ts). A status change (pause, resume) takes effect at once: on resume the
 * deliveries parked while it was paused become due now, and subscribers of
 * webhookStatusChanged are told either way.
 */
export async function updateWebhook(ctx: ServiceContext, id: string, input: UpdateWebhookInput): Promise<IWebhook> {
  return ctx.em.transactional(async (tx) => {
    const txCtx = { ...ctx, em: tx };
    const webhook = await getWebhook(txCtx, id);
    const tenantId = webhook.tenant?.id ?? null;
    const errors = new FieldErrors();
    // Settings that always have a value: null is refused, not taken as "unchanged" while
    // rateLimit: null (no limit) and description: null (none) change something.
    for (const name of ['url', 'events', 'maxInFlight', 'timeoutMs', 'adaptiveThrottling', 'ordering', 'status'] as const) {
      if (input[name] === null) errors.add(name, 'cannot be null');
    }
    if (input.status === 'DISABLED') errors.add('status', 'can be set to ACTIVE or PAUSED; Herald disables webhooks itself');
    const { auth, url, ownProfile } = await validateFields(txCtx, tenantId, input, errors, webhook.events);
    // A new profile, or a new secret, must leave the webhook able to sign.
    if ((ownProfile !== undefined && ownProfile !== (webhook.profile ?? null)) || input.secret != null) {
      const own = ownProfile !== undefined ? ownProfile : (webhook.profile ?? null);
      const profile = await resolveProfile(tx, ctx, tenantId, own, errors);
      if (profile) {
        checkImportedSecret(errors, profile.definition, input.secret, profile.name);
        const refit = { tenantId, webhook, profile: profile.name, definition: profile.definition, imported: input.secret };
        const secrets = errors.list.length ? undefined : await refitSecrets(ctx, tx, refit, errors);
        if (secrets) webhook.secrets = secrets;
      }
      webhook.profile = own;
    }
    errors.throwIfAny();

    if (url != null) webhook.url = url;
    if (input.events != null) webhook.events = input.events;
    if (input.description !== undefined) webhook.description = input.description;
    // An explicit null clears the channel filter; an absent field keeps it.
    if (input.channels !== undefined) webhook.channels = input.channels;
    if (auth) {
      webhook.authType = auth.type;
      webhook.authEncrypted = encryptAuth(ctx, auth);
    }
    if (input.headers !== undefined) webhook.headers = input.headers ?? [];
    if (input.retrySchedule !== undefined) webhook.retrySchedule = input.retrySchedule;
    if (input.timeoutMs != null) webhook.timeoutMs = input.timeoutMs;
    const limitsBefore = [webhook.maxInFlight, webhook.rateLimit ?? null, webhook.adaptiveThrottling];
    const throttled = webhook.throttleConcurrency != null;
    const rateBefore = webhook.rateLimit ?? Infinity;
    if (input.maxInFlight != null) webhook.maxInFlight = input.maxInFlight;
    if (input.rateLimit !== undefined) webhook.rateLimit = input.rateLimit;
    if (input.adaptiveThrottling != null) webhook.adaptiveThrottling = input.adaptiveThrottling;
    if ([webhook.maxInFlight, webhook.rateLimit ?? null, webhook.adaptiveThrottling].some((v, i) => v !== limitsBefore[i])) {
      // New limits start without a throttle; workers take it up from the written time.
      clearThrottle(webhook);
    }

    const unordered = webhook.ordering === 'KEYED' && input.ordering === 'NONE';
    if (input.ordering != null) webhook.ordering = input.ordering;

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
    // The change and what it causes commit together: a re-enabled webhook is never left without
    // its webhook.enabled event, nor the event sent for a change that did not happen.
    await tx.flush();
    if (unordered) await releaseKeys(tx, ctx, webhook);
    if ((webhook.rateLimit ?? Infinity) > rateBefore) {
      // Raised: the shared schedule (webhook_rate) stops holding the next send one old spacing ahead.
      await rawQuery(tx, 'update webhook_rate set next_send_at = least(next_send_at, now()) where webhook_id = $1', [webhook.id]);
    }
    if (webhook.status !== from) await statusChanged(tx, ctx, webhook, from);
    // A throttle cleared by new limits is a change webhookStatusChanged shows too.
    else if (throttled && webhook.throttleConcurrency == null) {
      await notifyLive((sql, params) => rawQuery(tx, sql, params), [webhookMessage(webhook)]);
    }
    return webhook;
  });
}

function clearThrottle(webhook: IWebhook): void {
  webhook.throttleConcurrency = null;
  webhook.throttleRate = null;
  webhook.throttleReason = null;
  webhook.throttleSince = null;
  webhook.throttleWrittenAt = new Date();
}

/**
 * A webhook no longer KEYED, in its transaction: its deliveries waiting behind their keys are due
 * now (if it is active). First it takes the sequence row lock of each key with a waiting delivery,
 * as a publish does from numbering its deliveries to its commit (outbox/fan-out.ts): a publish that
 * read the webhook as KEYED and put its delivery behind a waiting one (so of such a key) commits
 * before this looks, and this frees that delivery too. Without the lock the delivery would keep a
 * key no delivery ends, and wait for ever. Only those keys: no other can have such a publish.
 */
async function releaseKeys(tx: EntityManager, ctx: ServiceContext, webhook: IWebhook): Promise<void> {
  await rawQuery(
    tx,
    `select 1 from ordering_sequence s
      where s.webhook_id = $1 and s.ordering_key in (
            select q.ordering_key from delivery_due q join delivery d on d.id = q.delivery_id
             where q.webhook_id = $1 and q.ordering_key is not null and d.status in ${WAITING_SQL})
      order by s.ordering_key
        for update of s`,
    [webhook.id],
  );
  const released = await rawQuery<RequeuedRow & { next_attempt_at: Date | null }>(
    tx,
    // Every waiting delivery with an ordering key has its delivery_due row (core/delivery-state.ts).
    `with released as (
       update delivery set ordering_key = null, ordering_seq = null, updated_at = now(),
              next_attempt_at = case when next_attempt_at is null and $2 then now() else next_attempt_at end
        where id = any(array(select delivery_id from delivery_due where webhook_id = $1 and ordering_key is not null))
          and webhook_id = $1 and ordering_key is not null and status in ${WAITING_SQL}
        ${RETURNING}, next_attempt_at
     ), unkeyed as (
       update delivery_due set ordering_key = null, ordering_seq = null where delivery_id = any(array(select id from released))
     )
     select * from released`,
    [webhook.id, webhook.status === 'ACTIVE'],
  );
  await requeue(
    tx,
    ctx.boss,
    released.filter((r) => r.next_attempt_at !== null),
  );
}

/**
 * After a status change, in its transaction: a resumed webhook's parked deliveries are due now;
 * a disabled one set back to ACTIVE sends `webhook.enabled`; subscribers are told.
 */
async function statusChanged(tx: EntityManager, ctx: ServiceContext, webhook: IWebhook, from: WebhookStatus): Promise<void> {
  if (from === 'PAUSED' && webhook.status === 'ACTIVE') {
    // Not those waiting behind an earlier delivery of their ordering key: they follow it.
    const parked = await rawQuery<RequeuedRow>(
      tx,
      // Parked deliveries, and those behind their key, are found by their delivery_due rows (core/delivery-state.ts).
      `update delivery d set next_attempt_at = now(), updated_at = now()
        where d.id = any(array(select delivery_id from delivery_due where webhook_id = $1 and due_at is null))
          and d.webhook_id = $1 and d.status in ${WAITING_SQL} and d.next_attempt_at is null
          and (d.ordering_key is null or not exists (
               select 1 from delivery_due q join delivery p on p.id = q.delivery_id
                where q.webhook_id = d.webhook_id and q.ordering_key = d.ordering_key
                  and q.ordering_seq < d.ordering_seq and p.status in ${WAITING_SQL}))
        ${RETURNING}`,
      [webhook.id],
    );
    await requeue(tx, ctx.boss, parked);
  }
  const tenantId = webhook.tenant?.id;
  if (from === 'DISABLED' && webhook.status === 'ACTIVE' && tenantId) {
    const data = { webhookId: webhook.id, url: webhook.url, enabledAt: webhook.updatedAt.toISOString() };
    await emitNotices(fromKysely(tx.getKysely()), ctx.boss, [{ type: WEBHOOK_ENABLED, tenantId, webhookId: webhook.id, data }], {
      defaultProfile: ctx.config.defaultProfile,
    });
  }
  await notifyLive((sql, params) => rawQuery(tx, sql, params), [webhookMessage(webhook)]);
}

function webhookMessage(webhook: IWebhook, deleted = webhook.deletedAt != null): LiveMessage {
  return webhookStatusMessage({ id: webhook.id, tenantId: webhook.tenant?.id ?? null, status: webhook.status, deleted });
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
    // Those no longer owed an attempt lose their delivery_due rows (a one-off attempt asked for
    // by hand is still owed: the worker settles it).
    const cancelled = await rawQuery<DeliveryIds>(
      tx,
      `with cancelled as (
         update delivery set status = 'CANCELLED', completed_at = $2, next_attempt_at = null, updated_at = $2
          where id = any(array(${owedCandidatesSql('array[$1::text]')})) and webhook_id = $1 and status in ${WAITING_SQL}
          returning id, tenant_id, webhook_id, event_id, next_trigger
       ), gone as (
         delete from delivery_due where delivery_id = any(array(select id from cancelled where next_trigger = 'SCHEDULED'))
       )
       select id, tenant_id as "tenantId", webhook_id as "webhookId", event_id as "eventId" from cancelled`,
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
 * A new signing secret (imported, or generated in the profile's format), returned once — null
 * when the profile does not sign. The previous ones keep signing alongside it until their grace
 * period ends, so receivers can switch without dropping deliveries (single-signature formats
 * sign with the newest only). Under a tenant-scoped profile this re-keys the tenant: every one
 * of its webhooks under that profile.
 */
export async function rotateWebhookSecret(
  ctx: ServiceContext,
  id: string,
  graceSeconds?: number | null,
  imported?: string | null,
): Promise<{ webhook: IWebhook; secret: string | null }> {
  const grace = graceSeconds ?? DEFAULT_GRACE_SECONDS;
  if (!Number.isInteger(grace) || grace < 0 || grace > MAX_GRACE_SECONDS) {
    throw validationError([{ field: 'graceSeconds', message: `must be between 0 and ${MAX_GRACE_SECONDS}` }]);
  }
  return ctx.em.transactional(async (tx) => {
    const webhook = await getWebhook({ ...ctx, em: tx }, id);
    const tenantId = webhook.tenant?.id ?? null;
    const errors = new FieldErrors();
    const profile = await resolveProfile(tx, ctx, tenantId, webhook.profile ?? null, errors);
    if (profile) checkImportedSecret(errors, profile.definition, imported, profile.name);
    errors.throwIfAny();
    const { name, definition } = profile!;
    const secret = imported ?? generateSecret(definition.secret.format);
    const now = new Date();
    // resolveProfile refused a tenant-scoped profile for an operator webhook (no tenant).
    if (definition.secret.scope === 'TENANT' && tenantId !== null) {
      const current = await tenantSecrets(tx, tenantId, name);
      const next = rotated(ctx, current ?? [], secret, grace, now);
      if (current) await updateTenantSecrets(tx, tenantId, name, next);
      else await insertTenantSecret(tx, tenantId, name, next[0]);
    } else {
      webhook.secrets = rotated(ctx, webhook.secrets, secret, grace, now);
    }
    return { webhook, secret: definition.signature ? secret : null };
  });
}

/** `secret` first, then the live ones with their grace period ended at `grace` seconds from now at the latest. */
function rotated(ctx: ServiceContext, secrets: StoredSecret[], secret: string, grace: number, now: Date): StoredSecret[] {
  const expiresAt = new Date(now.getTime() + grace * 1000).toISOString();
  const old: StoredSecret[] =
    grace === 0
      ? []
      : activeSecrets(secrets, now)
          .map((s) => ({ ...s, expiresAt: s.expiresAt === null || s.expiresAt > expiresAt ? expiresAt : s.expiresAt }))
          .slice(0, MAX_OLD_SECRETS);
  return [storedSecret(ctx, secret, now), ...old];
}
