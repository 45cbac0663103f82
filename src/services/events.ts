import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely, type PgBoss } from 'pg-boss';
import { FieldErrors, HeraldError, validationError } from '../core/errors.ts';
import { ORDERING_KEY_MAX, PRIORITY_RANK } from '../core/flow.ts';
import { newId } from '../core/ids.ts';
import { isOperationalEventType } from '../core/operational-events.ts';
import { buildPayload } from '../core/payload.ts';
import { rawQuery } from '../db/raw-query.ts';
import { Event, type EventRecord } from '../entities/Event.ts';
import { countPublished } from '../metrics.ts';
import { insertEvents, type OutgoingEvent } from '../outbox/fan-out.ts';
import { matchingWebhooks } from '../outbox/matching.ts';
import { type PublishProfile, profilesOf } from '../outbox/profiles.ts';
import { resolveTenantId } from './caller.ts';
import type { ServiceContext } from './context.ts';
import { publishableEventTypes } from './event-types.ts';

export const MAX_EVENT_DATA_BYTES = 256 * 1024;
export const MAX_EVENTS_PER_CALL = 1000;
const CHANNEL = /^[a-z0-9][a-z0-9_.-]{0,49}$/;

export interface PublishInput {
  type: string;
  data: unknown;
  channel?: string | null;
  idempotencyKey?: string | null;
  /** For webhooks with ordering KEYED: events with the same key are delivered one at a time, in publish order. */
  orderingKey?: string | null;
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
  orderingKey: string | null;
  /** The event type's priority rank (core/flow.ts), which its deliveries carry. */
  priority: number;
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
  const known = new Map<string, Map<string, number>>();
  const prepared: Prepared[] = [];

  for (const [index, input] of inputs.entries()) {
    let tenantId = tenants.get(input.tenantId);
    if (!tenantId) {
      tenantId = await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
      tenants.set(input.tenantId, tenantId);
    }
    let priority: number | undefined;
    if (isOperationalEventType(input.type)) {
      errors.add(field(index, 'type'), `"${input.type}" is sent by Herald itself and cannot be published`);
    } else {
      // Read once per tenant per call: the platform's catalog may archive built-ins.
      if (!known.has(tenantId)) known.set(tenantId, await publishableEventTypes(ctx.em, tenantId));
      priority = known.get(tenantId)!.get(input.type);
      if (priority === undefined) errors.add(field(index, 'type'), `unknown or archived event type "${input.type}"`);
    }
    if (input.channel != null && !CHANNEL.test(input.channel))
      errors.add(field(index, 'channel'), 'must be a short lowercase name like "sms"');
    if (input.idempotencyKey != null && !lengthWithin(input.idempotencyKey, 255)) {
      errors.add(field(index, 'idempotencyKey'), 'must be 1 to 255 characters');
    }
    if (input.orderingKey != null && !lengthWithin(input.orderingKey, ORDERING_KEY_MAX)) {
      errors.add(field(index, 'orderingKey'), `must be 1 to ${ORDERING_KEY_MAX} characters`);
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
      orderingKey: input.orderingKey ?? null,
      priority: priority ?? PRIORITY_RANK.NORMAL,
      requestHash: createHash('sha256')
        // The ordering key is part of what was asked only when given (hashes of earlier events stay valid).
        .update(JSON.stringify([input.type, input.channel ?? null, serialized, ...(input.orderingKey != null ? [input.orderingKey] : [])]))
        .digest('hex'),
    });
  }
  errors.throwIfAny();
  return prepared;
}

async function insertAll(em: EntityManager, boss: PgBoss, prepared: Prepared[], defaultProfile: string): Promise<Published[]> {
  // Read before the transaction, to keep it short: what a concurrent change could alter is the same either way.
  const db = fromKysely(em.getKysely());
  const fanouts = new Map<string, Fanout>();
  for (const tenantId of new Set(prepared.map((p) => p.tenantId))) fanouts.set(tenantId, await matchingWebhooks(db, tenantId));
  const profiles = await profilesOf(
    db,
    [...fanouts.values()].flatMap((f) => f.webhooks),
    defaultProfile,
  );
  let created = 0;
  const published = await em.transactional(async (tx) => {
    const results = new Array<Published>(prepared.length);
    const existing = await findByIdempotencyKey(tx, prepared);
    const fresh: OutgoingEvent[] = [];
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
      const outgoing = outgoingEvent(item, event, fanouts.get(item.tenantId)!, profiles);
      fresh.push(outgoing);
      results[item.index] = { event, deliveryCount: outgoing.webhooks.length };
    }

    // Events, bodies, deliveries, live messages and wake-up jobs in this transaction (outbox/fan-out.ts).
    await insertEvents(fromKysely(tx.getKysely()), boss, fresh);
    created = fresh.length;
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
    found.set(`${event.tenant?.id}\u0000${event.idempotencyKey}`, { event, deliveryCount: byEvent.get(event.id) ?? 0 });
  }
  return found;
}

type Fanout = Awaited<ReturnType<typeof matchingWebhooks>>;

/** What the outbox writes for a new event: it, and a delivery to each matching webhook under that webhook's profile. */
function outgoingEvent(item: Prepared, event: EventRecord, fanout: Fanout, profiles: Map<string, PublishProfile>): OutgoingEvent {
  return {
    id: event.id,
    tenantId: item.tenantId,
    type: item.type,
    channel: item.channel,
    payload: event.payload,
    data: item.data,
    tenant: fanout.tenant,
    idempotencyKey: item.idempotencyKey,
    requestHash: item.requestHash,
    createdAt: event.createdAt,
    priority: item.priority,
    orderingKey: item.orderingKey,
    webhooks: fanout.webhooks
      .filter((w) => w.matches(item.type, item.channel))
      .map((w) => ({ id: w.id, paused: w.paused, keyed: w.keyed, profile: profiles.get(w.id)! })),
  };
}

/**
 * Whether `text` has 1 to `max` characters, counted as Unicode code points (what PostgreSQL's
 * varchar(n) counts, and what a user counts), not UTF-16 code units: "😀" is one.
 */
function lengthWithin(text: string, max: number): boolean {
  if (text.length === 0) return false;
  if (text.length <= max) return true; // at most as many code points as units
  let count = 0;
  for (const _ of text) if (++count > max) return false;
  return true;
}
