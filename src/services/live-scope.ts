import { notFound } from '../core/errors.ts';
import { resolveTenantId } from './caller.ts';
import type { ServiceContext } from './context.ts';
import { findEvent } from './history.ts';
import { findWebhook } from './webhooks.ts';

/** What a live subscriber watches; null means "any". */
export interface LiveScope {
  /** Always set for a tenant key or portal session (its own tenant); an admin may watch every tenant. */
  tenantId: string | null;
  webhookId: string | null;
  eventId: string | null;
}

/**
 * Checks the ids a subscription names as a query checks them, so every transport gives the same
 * answer: a tenant naming another tenant, or a webhook or event outside the caller's tenant (or
 * outside the admin's `tenantId`), is NOT_FOUND — never a stream that silently shows something
 * else or nothing. A deleted webhook is NOT_FOUND too, as in `webhook(id)`.
 */
export async function resolveLiveScope(
  ctx: ServiceContext,
  args: { tenantId?: string | null; webhookId?: string | null; eventId?: string | null },
): Promise<LiveScope> {
  const tenantId = ctx.caller.kind !== 'admin' || args.tenantId ? await resolveTenantId(ctx.em, ctx.caller, args.tenantId) : null;
  const webhookId = args.webhookId ?? null;
  const eventId = args.eventId ?? null;
  if (webhookId) {
    const webhook = await findWebhook(ctx, webhookId);
    if (!webhook || (tenantId && webhook.tenant?.id !== tenantId)) throw notFound('Webhook', webhookId);
  }
  if (eventId) {
    const event = await findEvent(ctx, eventId);
    if (!event || (tenantId && event.tenant?.id !== tenantId)) throw notFound('Event', eventId);
  }
  return { tenantId, webhookId, eventId };
}
