import type { FilterQuery } from '@mikro-orm/postgresql';
import type { DeliveryStatus } from '../core/delivery-state.ts';
import type { IDelivery } from '../entities/Delivery.ts';
import { Delivery } from '../entities/Delivery.ts';
import { Event, type IEvent } from '../entities/Event.ts';
import { resolveTenantId, tenantScope } from './caller.ts';
import type { ServiceContext } from './context.ts';
import { type Page, type PageArgs, paginate } from './pagination.ts';

export interface DeliveryFilter {
  webhookId?: string | null;
  eventId?: string | null;
  status?: DeliveryStatus | null;
  eventType?: string | null;
  since?: Date | null;
  until?: Date | null;
}

/** Deliveries newest first, filtered; a tenant sees only its own. */
export async function listDeliveries(
  ctx: ServiceContext,
  filter: DeliveryFilter & { tenantId?: string | null },
  args: PageArgs,
): Promise<Page<IDelivery>> {
  const where: FilterQuery<IDelivery> = { ...tenantScope(ctx.caller) };
  // A tenant naming another tenant is NOT_FOUND (as in `events`), never silently its own list.
  if (filter.tenantId) where.tenant = await resolveTenantId(ctx.em, ctx.caller, filter.tenantId);
  if (filter.webhookId) where.webhook = filter.webhookId;
  if (filter.eventId) where.event = filter.eventId;
  if (filter.status) where.status = filter.status;
  if (filter.eventType) where.eventType = filter.eventType;
  if (filter.since || filter.until) {
    where.createdAt = { ...(filter.since ? { $gte: filter.since } : {}), ...(filter.until ? { $lt: filter.until } : {}) };
  }
  return paginate(ctx.em, Delivery, where, args);
}

export async function listEvents(
  ctx: ServiceContext,
  filter: { type?: string | null; tenantId?: string | null },
  args: PageArgs,
): Promise<Page<IEvent>> {
  const scope =
    ctx.caller.kind === 'admin' && !filter.tenantId ? {} : { tenant: await resolveTenantId(ctx.em, ctx.caller, filter.tenantId) };
  return paginate(ctx.em, Event, { ...scope, ...(filter.type ? { type: filter.type } : {}) }, args);
}

export async function findEvent(ctx: ServiceContext, id: string): Promise<IEvent | null> {
  return ctx.em.findOne(Event, { id, ...tenantScope(ctx.caller) });
}

export async function findDelivery(ctx: ServiceContext, id: string): Promise<IDelivery | null> {
  return ctx.em.findOne(Delivery, { id, ...tenantScope(ctx.caller) });
}
