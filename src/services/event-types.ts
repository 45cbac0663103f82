import type { EntityManager } from '@mikro-orm/postgresql';
import { FieldErrors, HeraldError, notFound, validationError } from '../core/errors.ts';
import {
  BUILT_IN_EVENT_TYPES,
  type BuiltInEventType,
  defaultPriority,
  EVENT_TYPE_NAME,
  isBuiltInEventType,
  TEST_EVENT_TYPE,
} from '../core/event-types.ts';
import { PRIORITY_RANK, type Priority } from '../core/flow.ts';
import { newId } from '../core/ids.ts';
import { EventType, type IEventType } from '../entities/EventType.ts';
import { resolveTenantId } from './caller.ts';
import type { ServiceContext } from './context.ts';

export interface EventTypeView {
  name: string;
  description: string | null;
  example: unknown;
  archived: boolean;
  builtIn: boolean;
  /** What its deliveries carry: a due HIGH delivery is claimed before NORMAL and LOW ones. */
  priority: Priority;
  /** The tenant of a tenant's own type; null for built-in and platform-wide types. */
  tenantId: string | null;
  /** Sent by Herald itself: subscribed to by name ("*" does not include it), never published. */
  operational: boolean;
}

function view(row: IEventType | undefined, name: string, builtIn?: BuiltInEventType): EventTypeView {
  return {
    name,
    description: row?.description ?? builtIn?.description ?? null,
    example: row?.example ?? builtIn?.example ?? null,
    archived: row?.archived ?? false,
    builtIn: builtIn !== undefined,
    priority: row?.tenant ? 'NORMAL' : (row?.priority ?? defaultPriority(name)),
    tenantId: row?.tenant?.id ?? null,
    operational: builtIn?.operational ?? false,
  };
}

/**
 * The catalog a tenant sees: the built-ins (with the operators' changes), the platform-wide
 * types, then the tenant's own — every tenant's own for an admin that names none.
 */
export async function listEventTypes(em: EntityManager, tenantId: string | null): Promise<EventTypeView[]> {
  const rows = await em.find(EventType, tenantId ? { $or: [{ tenant: tenantId }, { tenant: null }] } : {}, { orderBy: { name: 'asc' } });
  const platform = new Map(rows.filter((r) => !r.tenant).map((r) => [r.name, r]));
  return [
    ...BUILT_IN_EVENT_TYPES.map((t) => view(platform.get(t.name), t.name, t)),
    ...[...platform.values()].filter((r) => !isBuiltInEventType(r.name)).map((r) => view(r, r.name)),
    ...rows.filter((r) => r.tenant).map((r) => view(r, r.name)),
  ];
}

/** Names a tenant may subscribe to and publish: built-ins, platform-wide and its own types, none archived. */
export async function knownEventTypeNames(em: EntityManager, tenantId: string): Promise<Set<string>> {
  return new Set((await publishableEventTypes(em, tenantId)).keys());
}

/**
 * The types a tenant may publish (built-ins, platform-wide and its own, none archived), each with
 * the priority rank its deliveries carry (core/flow.ts): an operator's setting on a built-in or
 * platform-wide type, else the built-in default; a tenant's own type is NORMAL whatever its row.
 */
export async function publishableEventTypes(em: EntityManager, tenantId: string): Promise<Map<string, number>> {
  const rows = await em.find(
    EventType,
    { $or: [{ tenant: tenantId }, { tenant: null }] },
    { fields: ['name', 'archived', 'priority', 'tenant'] },
  );
  const known = new Map(BUILT_IN_EVENT_TYPES.map((t) => [t.name, PRIORITY_RANK[defaultPriority(t.name)]]));
  for (const row of rows) {
    if (row.archived) known.delete(row.name);
    else if (row.tenant) known.set(row.name, PRIORITY_RANK.NORMAL);
    else known.set(row.name, PRIORITY_RANK[row.priority ?? defaultPriority(row.name)]);
  }
  return known;
}

/**
 * A new event type: the tenant's own, or (tenantId null: the admin key naming no tenant) a
 * platform-wide one every tenant sees. A name may not repeat a built-in or platform-wide type,
 * nor, for a platform-wide one, any tenant's own.
 */
export async function createEventType(
  em: EntityManager,
  tenantId: string | null,
  input: { name: string; description?: string | null; example?: unknown },
): Promise<EventTypeView> {
  const errors = new FieldErrors();
  const name = input.name.trim();
  if (!EVENT_TYPE_NAME.test(name)) {
    errors.add('name', 'must be 1 to 100 letters, digits, "_", "." or "-", like "invoice.paid" or "MESSAGE_RECEIVED"');
  } else if (isBuiltInEventType(name)) {
    errors.add('name', 'is a built-in event type');
  } else if (await em.count(EventType, { name, ...(tenantId ? { $or: [{ tenant: tenantId }, { tenant: null }] } : {}) })) {
    errors.add('name', tenantId ? 'already exists' : 'already exists, platform-wide or as a tenant’s own type');
  }
  if (input.description && input.description.length > 1000) errors.add('description', 'must be at most 1000 characters');
  errors.throwIfAny();
  const eventType = em.create(EventType, {
    id: newId('etp'),
    tenant: tenantId,
    name,
    description: input.description ?? null,
    example: input.example ?? null,
  });
  await em.flush();
  return view(eventType, name);
}

/**
 * Changes an event type's description, example or archived flag. The admin key changes
 * built-in and platform-wide types (or a tenant's, naming `tenantId`); a tenant key only its
 * own; only the admin key sets a built-in or platform-wide type's priority (null: its default).
 * An archived type can no longer be published or newly subscribed to; webhooks that
 * subscribe to it keep it in their list and receive nothing. `webhook.test` cannot be archived.
 */
export async function updateEventType(
  ctx: ServiceContext,
  name: string,
  input: {
    description?: string | null;
    example?: unknown;
    archived?: boolean | null;
    priority?: Priority | null;
    tenantId?: string | null;
  },
): Promise<EventTypeView> {
  const tenantId = ctx.caller.kind === 'admin' && !input.tenantId ? null : await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
  const builtIn = BUILT_IN_EVENT_TYPES.find((t) => t.name === name);
  if (tenantId && builtIn) throw notTenantOwned(ctx, name, 'built-in');
  // A priority reorders every tenant's deliveries: only an operator sets it, and only on types
  // every tenant shares, so that no tenant's own type can jump the queue for everyone.
  if (input.priority !== undefined && ctx.caller.kind !== 'admin') {
    throw new HeraldError('FORBIDDEN', 'An event type’s priority is set with the admin key');
  }
  const errors = new FieldErrors();
  if (input.priority !== undefined && tenantId) errors.add('priority', 'a tenant’s own event type is always NORMAL');
  if (input.description && input.description.length > 1000) errors.add('description', 'must be at most 1000 characters');
  if (input.archived && name === TEST_EVENT_TYPE) errors.add('archived', `${TEST_EVENT_TYPE} always exists (sendTestEvent sends it)`);
  // Herald sends these itself, whatever the catalog says: a webhook stops them by not naming them.
  if (input.archived && builtIn?.operational)
    errors.add('archived', `${name} is an operational event; webhooks receive it only by naming it`);
  errors.throwIfAny();
  let row = await ctx.em.findOne(EventType, { name, tenant: tenantId });
  if (!row && !builtIn) {
    if (tenantId && (await ctx.em.count(EventType, { name, tenant: null }))) throw notTenantOwned(ctx, name, 'platform-wide');
    throw notFound('EventType', name);
  }
  // A built-in's changes are kept in a platform-wide row of its name.
  row ??= ctx.em.create(EventType, { id: newId('etp'), tenant: null, name, description: null, example: null, priority: null });
  if (input.description !== undefined) row.description = input.description;
  if (input.example !== undefined) row.example = input.example ?? null;
  if (input.archived != null) row.archived = input.archived;
  // null: back to its default.
  if (input.priority !== undefined) row.priority = input.priority;
  await ctx.em.flush();
  return view(row, name, builtIn);
}

/**
 * The error for naming a tenant on a type of no tenant: a tenant key may not change it
 * (FORBIDDEN); the admin key may, without `tenantId` (VALIDATION_ERROR on that field).
 */
function notTenantOwned(ctx: ServiceContext, name: string, kind: 'built-in' | 'platform-wide'): HeraldError {
  if (ctx.caller.kind === 'admin') {
    return validationError([{ field: 'tenantId', message: `"${name}" is a ${kind} type, of no tenant: leave tenantId out to change it` }]);
  }
  return new HeraldError('FORBIDDEN', `${kind === 'built-in' ? 'Built-in' : 'Platform-wide'} event types are changed with the admin key`);
}
