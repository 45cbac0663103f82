import { fromKysely } from 'pg-boss';
import { HeraldError, notFound, validationError } from '../core/errors.ts';
import { defaultPriorityRank, TEST_EVENT_TYPE } from '../core/event-types.ts';
import { lowestIdAt, newId } from '../core/ids.ts';
import { buildPayload } from '../core/payload.ts';
import { rawQuery } from '../db/raw-query.ts';
import { Delivery, type IDelivery } from '../entities/Delivery.ts';
import { Event } from '../entities/Event.ts';
import { Tenant } from '../entities/Tenant.ts';
import { profilesOf, renderBodies, versionIdOf } from '../outbox/profiles.ts';
import type { ServiceContext } from './context.ts';
import { insertEventBodies } from './event-bodies.ts';
import { publishableEventTypes } from './event-types.ts';
import { findDelivery } from './history.ts';
import { RETURNING, type RequeuedRow, requeue } from './requeue.ts';
import { getWebhook } from './webhooks.ts';

export async function getDelivery(ctx: ServiceContext, id: string): Promise<IDelivery> {
  const delivery = await findDelivery(ctx, id);
  if (!delivery) throw notFound('Delivery', id);
  return delivery;
}

/**
 * Asks for one new attempt now (trigger MANUAL), whatever the delivery's status. A delivery
 * still in its retry schedule keeps it if this attempt fails; an ended one is FAILED again.
 * CONFLICT when its webhook was deleted (the delivery is, or will be, CANCELLED: there is
 * nowhere to send it).
 */
export async function retryDelivery(ctx: ServiceContext, id: string): Promise<IDelivery> {
  const delivery = await getDelivery(ctx, id);
  await ctx.em.transactional(async (tx) => {
    // The webhook is checked in the same statement: one deleted meanwhile is refused too.
    const rows = await rawQuery<RequeuedRow>(
      tx,
      `update delivery set next_trigger = 'MANUAL', next_attempt_at = now(), updated_at = now()
        where id = $1 and exists (select 1 from webhook w where w.id = delivery.webhook_id and w.deleted_at is null)
        ${RETURNING}`,
      [delivery.id],
    );
    if (rows.length === 0) {
      throw new HeraldError('CONFLICT', `Delivery ${delivery.id} cannot be retried: its webhook was deleted`);
    }
    await requeue(tx, ctx.boss, rows);
  });
  await ctx.em.refresh(delivery);
  return delivery;
}

/**
 * Re-queues every FAILED delivery of a webhook created in [since, until): one new attempt each.
 * Returns how many this call re-queued: a FAILED delivery whose one-off attempt is already
 * queued or in flight (an earlier replay or retryDelivery; `next_trigger` is not SCHEDULED until
 * that attempt is recorded) is left as it is and not counted.
 */
export async function replayFailedDeliveries(
  ctx: ServiceContext,
  input: { webhookId: string; since: Date; until?: Date | null },
): Promise<number> {
  const until = input.until ?? new Date();
  if (until <= input.since) throw validationError([{ field: 'until', message: 'must be after since' }]);
  const webhook = await getWebhook(ctx, input.webhookId);
  return ctx.em.transactional(async (tx) => {
    // Ids are time-ordered: the id range (a minute wider each way than the window, for the
    // moments between a delivery's created_at and its id) makes this a range of the webhook's
    // (webhook_id, id) index rather than every delivery it ever had.
    const rows = await rawQuery<RequeuedRow>(
      tx,
      `update delivery set next_trigger = 'MANUAL', next_attempt_at = now(), updated_at = now()
        where webhook_id = $1 and id >= $4 and id < $5
          and status = 'FAILED' and next_trigger = 'SCHEDULED' and created_at >= $2 and created_at < $3
        ${RETURNING}`,
      [webhook.id, input.since, until, lowestIdAt('dlv', input.since.getTime() - 60_000), lowestIdAt('dlv', until.getTime() + 60_000)],
    );
    await requeue(tx, ctx.boss, rows);
    return rows.length;
  });
}

/**
 * Sends a `webhook.test` event to one webhook (trigger TEST), whatever it subscribes to, under
 * its profile (its own, else its tenant's, else HERALD_DEFAULT_PROFILE). An operator webhook's
 * test belongs to no tenant: expressions see `tenant` null.
 */
export async function sendTestEvent(ctx: ServiceContext, webhookId: string): Promise<IDelivery> {
  const webhook = await getWebhook(ctx, webhookId);
  const tenantId = webhook.tenant?.id ?? null;
  const tenant = tenantId === null ? null : await ctx.em.findOneOrFail(Tenant, tenantId);
  const webhookProfile = { id: webhook.id, profile: webhook.profile ?? tenant?.profile ?? null };
  const profile = (await profilesOf(fromKysely(ctx.em.getKysely()), [webhookProfile], ctx.config.defaultProfile)).get(webhook.id)!;
  const deliveryId = await ctx.em.transactional(async (tx) => {
    const id = newId('evt');
    const createdAt = new Date();
    const data = { message: 'This is a test event from Herald.', webhookId: webhook.id };
    const fields = { id, type: 'webhook.test', channel: null, createdAt, data };
    await insertEventBodies(
      tx,
      await renderBodies(fields, tenant && { id: tenant.id, name: tenant.name, externalId: tenant.externalId ?? null }, [profile]),
    );
    tx.create(Event, {
      id,
      tenant: tenantId,
      type: 'webhook.test',
      channel: null,
      payload: buildPayload({ id, type: 'webhook.test', createdAt, tenantId, channel: null, data }),
      createdAt,
    });
    const delivery = tx.create(Delivery, {
      id: newId('dlv'),
      tenant: tenantId,
      event: id,
      webhook: webhook.id,
      eventType: 'webhook.test',
      profileVersion: versionIdOf(profile),
      status: 'PENDING',
      nextTrigger: 'TEST',
      nextAttemptAt: createdAt,
      // As an operator set it (HIGH unless changed): a test is watched as it goes.
      priority:
        (tenantId === null ? undefined : (await publishableEventTypes(tx, tenantId)).get(TEST_EVENT_TYPE)) ??
        defaultPriorityRank(TEST_EVENT_TYPE),
    });
    await tx.flush();
    await requeue(tx, ctx.boss, [
      { id: delivery.id, tenantId, webhookId: webhook.id, eventId: id, status: 'PENDING', priority: delivery.priority },
    ]);
    return delivery.id;
  });
  return getDelivery({ ...ctx, em: ctx.em.fork() }, deliveryId);
}
