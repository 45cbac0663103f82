import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely, type PgBoss } from 'pg-boss';
import { FieldErrors, HeraldError, validationError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { buildPayload } from '../core/payload.ts';
import type { CompiledProfile } from '../core/profiles/render.ts';
import { rawQuery } from '../db/raw-query.ts';
import { Event, type EventRecord } from '../entities/Event.ts';
import { enqueueDeliveries } from '../jobs/queue.ts';
import { deliveryMessage, LIVE_CHANNEL, packMessages } from '../live/messages.ts';
import { countPublished } from '../metrics.ts';
import { resolveTenantId } from './caller.ts';
import type { ServiceContext } from './context.ts';
import { type EventBodyRow, profilesOf, renderBodies, versionIdOf } from './event-bodies.ts';
import { knownEventTypeNames } from './event-types.ts';
import { matchingWebhooks } from './matching.ts';

export const MAX_EVENT_DATA_BYTES = 256 * 1024;
export const MAX_EVENTS_PER_CALL = 1000;
const CHANNEL = /^[a-z0-9][a-z0-9_.-]{0,49}$/;

export interface PublishInput {
  type: string;
  data: unknown;
  channel?: string | null;
  idempotencyKey?: string | null;
  tenantId?: string | null;
}

export interface Published {
  event: EventRecord;
  deliveryCount: number;
}

interface Prepared {
  index: number;
  tenantId: string;
  type: string;
  channel: string | null;
  data: unknown;
  idempotencyKey: string | null;
  requestHash: string;
}

/**
 * Publishes events: each event row, one delivery per matching webhook and their wake-up jobs
 * are written in one transaction, so either all exist or none. A repeated idempotency key
 * with the same payload returns the original event and creates nothing.
 */
export async function publishEvents(ctx: ServiceContext, inputs: PublishInput[]): Promise<Published[]> {
  if (inputs.length === 0) return [];
  if (inputs.length > MAX_EVENTS_PER_CALL) {
    throw validationError([{ field: 'inputs', message: `at most ${MAX_EVENTS_PER_CALL} events per call` }]);
  }
  const prepared = await prepare(ctx, inputs);
  try {
    return await insertAll(ctx.em, ctx.boss, prepared, ctx.config.defaultProfile);
  } catch (error) {
    // Two concurrent publishes with one idempotency key: the loser now finds the winner's event.
    if ((error as { code?: string }).code === '23505' || String(error).includes('idempotency_key')) {
      return insertAll(ctx.em.fork(), ctx.boss, prepared, ctx.config.defaultProfile);
    }
    throw error;
  }
}

async function prepare(ctx: ServiceContext, inputs: PublishInput[]): Promise<Prepared[]> {
  const errors = new FieldErrors();
  const field = (i: number, name: string) => (inputs.length === 1 ? name : `inputs[${i}].${name}`);
  const tenants = new Map<string | null | undefined, string>();
  const known = new Map<string, Set<string>>();
  const prepared: Prepared[] = [];

  for (const [index, input] of inputs.entries()) {
    let tenantId = tenants.get(input.tenantId);
    if (!tenantId) {
      tenantId = await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
      tenants.set(input.tenantId, tenantId);
    }
    // Read once per tenant per call: the platform's catalog may archive built-ins.
    if (!known.has(tenantId)) known.set(tenantId, await knownEventTypeNames(ctx.em, tenantId));
    if (!known.get(tenantId)!.has(input.type)) errors.add(field(index, 'type'), `unknown or archived event type "${input.type}"`);
    if (input.channel != null && !CHANNEL.test(input.channel))
      errors.add(field(index, 'channel'), 'must be a short lowercase name like "sms"');
    if (input.idempotencyKey != null && (input.idempotencyKey.length === 0 || input.idempotencyKey.length > 255)) {
      errors.add(field(index, 'idempotencyKey'), 'must be 1 to 255 characters');
    }
    if (input.data === undefined) errors.add(field(index, 'data'), 'is required');
    const serialized = JSON.stringify(input.data ?? null);
    if (Buffer.byteLength(serialized) > MAX_EVENT_DATA_BYTES) {
      throw new HeraldError('PAYLOAD_TOO_LARGE', `${field(index, 'data')} is over ${MAX_EVENT_DATA_BYTES / 1024} KiB serialized`, {
        limitBytes: MAX_EVENT_DATA_BYTES,
      });
    }
    prepared.push({
      index,
      tenantId,
      type: input.type,
      channel: input.channel ?? null,
      data: input.data ?? null,
      idempotencyKey: input.idempotencyKey ?? null,
      requestHash: createHash('sha256')
        .update(JSON.stringify([input.type, input.channel ?? null, serialized]))
        .digest('hex'),
    });
  }
  errors.throwIfAny();
  return prepared;
}

async function insertAll(em: EntityManager, boss: PgBoss, prepared: Prepared[], defaultProfile: string): Promise<Published[]> {
  // Read before the transaction, to keep it short: what a concurrent change could alter is the same either way.
  const fanouts = new Map<string, Fanout>();
  for (const tenantId of new Set(prepared.map((p) => p.tenantId))) fanouts.set(tenantId, await matchingWebhooks(em, tenantId));
  const profiles = await profilesOf(
    em,
    [...fanouts.values()].flatMap((f) => f.webhooks),
    defaultProfile,
  );
  let created = 0;
  const published = await em.transactional(async (tx) => {
    const results = new Array<Published>(prepared.length);
    const existing = await findByIdempotencyKey(tx, prepared);
    const fresh: { item: Prepared; event: EventRecord }[] = [];
    const firstWithKey = new Map<string, number>();

    for (const item of prepared) {
      const key = item.idempotencyKey ? `${item.tenantId}\u0000${item.idempotencyKey}` : null;
      const found = key ? existing.get(key) : undefined;
      if (found) {
        if (found.event.requestHash !== item.requestHash) throw conflict(item);
        results[item.index] = found;
        continue;
      }
      if (key && firstWithKey.has(key)) continue; // repeated within this call: resolved below
      if (key) firstWithKey.set(key, item.index);
      const id = newId('evt');
      const createdAt = new Date();
      const payload = buildPayload({ id, type: item.type, createdAt, tenantId: item.tenantId, channel: item.channel, data: item.data });
      // The answer; written below with the deliveries in one statement.
      const event: EventRecord = {
        id,
        tenant: { id: item.tenantId },
        type: item.type,
        channel: item.channel,
        payload,
        idempotencyKey: item.idempotencyKey,
        requestHash: item.requestHash,
        createdAt,
      };
      fresh.push({ item, event });
    }

    const counts = await insertEventsAndDeliveries(tx, boss, fresh, fanouts, profiles);
    created = fresh.length;
    for (const [i, { item, event }] of fresh.entries()) results[item.index] = { event, deliveryCount: counts[i] };
    for (const item of prepared) {
      if (results[item.index]) continue;
      const first = results[firstWithKey.get(`${item.tenantId}\u0000${item.idempotencyKey}`)!];
      if (first.event.requestHash !== item.requestHash) throw conflict(item);
      results[item.index] = first;
    }
    return results;
  });
  countPublished(created); // committed
  return published;
}

function conflict(item: Prepared): HeraldError {
  return new HeraldError('CONFLICT', `idempotency key "${item.idempotencyKey}" was already used with a different payload`);
}

async function findByIdempotencyKey(em: EntityManager, prepared: Prepared[]): Promise<Map<string, Published>> {
  const withKey = prepared.filter((p) => p.idempotencyKey);
  const found = new Map<string, Published>();
  if (withKey.length === 0) return found;
  const events = await em.find(Event, {
    $or: withKey.map((p) => ({ tenant: p.tenantId, idempotencyKey: p.idempotencyKey })),
  });
  if (events.length === 0) return found;
  const counts = await rawQuery<{ event_id: string; count: string }>(
    em,
    'select event_id, count(*) as count from delivery where event_id = any($1) group by event_id',
    [events.map((e) => e.id)],
  );
  const byEvent = new Map(counts.map((c) => [c.event_id, Number(c.count)]));
  for (const event of events) {
    found.set(`${event.tenant.id}\u0000${event.idempotencyKey}`, { event, deliveryCount: byEvent.get(event.id) ?? 0 });
  }
  return found;
}

type Fanout = Awaited<ReturnType<typeof matchingWebhooks>>;

/**
 * Writes the events, their bodies under the profiles that render their own, one delivery per
 * (event, matching webhook) pinned to its profile version, and the QUEUED live messages with
 * one statement, then the wake-up jobs of deliveries to active webhooks (paused ones wait) —
 * all inside the caller's transaction. Few round trips keep publishing fast.
 */
async function insertEventsAndDeliveries(
  em: EntityManager,
  boss: PgBoss,
  fresh: { event: EventRecord; item: Prepared }[],
  fanouts: Map<string, Fanout>,
  profiles: Map<string, CompiledProfile | string>,
): Promise<number[]> {
  const counts: number[] = [];
  const deliveries: {
    id: string;
    tenant_id: string;
    event_id: string;
    webhook_id: string;
    event_type: string;
    profile_version: string;
    due: Date | null;
  }[] = [];
  const bodies: EventBodyRow[] = [];
  const dueIds: string[] = [];
  const now = new Date();
  for (const { event, item } of fresh) {
    const { webhooks, tenant } = fanouts.get(item.tenantId) ?? { webhooks: [], tenant: null };
    const used: (CompiledProfile | string)[] = [];
    for (const webhook of webhooks) {
      if (!webhook.matches(item.type, item.channel)) continue;
      const id = newId('dlv');
      const profile = profiles.get(webhook.id)!;
      used.push(profile);
      deliveries.push({
        id,
        tenant_id: item.tenantId,
        event_id: event.id,
        webhook_id: webhook.id,
        event_type: item.type,
        profile_version: versionIdOf(profile),
        due: webhook.paused ? null : now,
      });
      if (!webhook.paused) dueIds.push(id);
    }
    if (tenant && used.length) {
      const fields = { id: event.id, type: item.type, channel: item.channel, createdAt: event.createdAt, data: item.data };
      bodies.push(...(await renderBodies(fields, { id: tenant.id, name: tenant.name, externalId: tenant.externalId }, used)));
    }
    counts.push(used.length);
  }
  if (fresh.length === 0) return counts;
  const events = fresh.map(({ event, item }) => ({
    id: event.id,
    tenant_id: item.tenantId,
    type: item.type,
    channel: item.channel,
    payload: event.payload,
    idempotency_key: item.idempotencyKey,
    request_hash: item.requestHash,
    created_at: event.createdAt,
  }));
  const queued = packMessages(
    deliveries.map((d) => deliveryMessage({ id: d.id, tenantId: d.tenant_id, webhookId: d.webhook_id, eventId: d.event_id }, 'QUEUED')),
  );
  await rawQuery(
    em,
    `with new_event as (
       insert into event (id, tenant_id, type, channel, payload, idempotency_key, request_hash, created_at)
       select id, tenant_id, type, channel, payload, idempotency_key, request_hash, created_at
         from json_to_recordset($1::json) as x(id text, tenant_id text, type text, channel text, payload text,
              idempotency_key text, request_hash text, created_at timestamptz)
     ), new_delivery as (
       insert into delivery (id, tenant_id, event_id, webhook_id, event_type, profile_version, status, next_attempt_at, created_at, updated_at)
       select id, tenant_id, event_id, webhook_id, event_type, profile_version, 'PENDING', due, $3::timestamptz, $3::timestamptz
         from json_to_recordset($2::json) as x(id text, tenant_id text, event_id text, webhook_id text, event_type text,
              profile_version text, due timestamptz)
     ), new_body as (
       insert into event_body (event_id, profile_version, body, error)
       select event_id, profile_version, body, error from json_to_recordset($6::json) as x(event_id text, profile_version text, body text, error text)
     )
     select count(pg_notify($4, payload)) from unnest($5::text[]) as payload`,
    [JSON.stringify(events), JSON.stringify(deliveries), now, LIVE_CHANNEL, queued, JSON.stringify(bodies)],
  );
  await enqueueDeliveries(boss, dueIds, { db: fromKysely(em.getKysely()) });
  return counts;
}
