import type { EntityManager } from '@mikro-orm/postgresql';
import { FieldErrors } from '../core/errors.ts';
import { BUILT_IN_EVENT_TYPES, EVENT_TYPE_NAME, EVENT_TYPE_NAME_MAX, isBuiltInEventType } from '../core/event-types.ts';
import { newId } from '../core/ids.ts';
import { EventType } from '../entities/EventType.ts';

export interface EventTypeView {
  name: string;
  description: string | null;
  example: unknown;
  archived: boolean;
  builtIn: boolean;
}

/** The built-in catalog followed by the tenant's own types (all tenants' for an admin). */
export async function listEventTypes(em: EntityManager, tenantId: string | null): Promise<EventTypeView[]> {
  const own = await em.find(EventType, tenantId ? { tenant: tenantId } : {}, { orderBy: { name: 'asc' } });
  return [
    ...BUILT_IN_EVENT_TYPES.map((t) => ({ ...t, archived: false, builtIn: true })),
    ...own.map((t) => ({
      name: t.name,
      description: t.description ?? null,
      example: t.example ?? null,
      archived: t.archived,
      builtIn: false,
    })),
  ];
}

/** Names a tenant may subscribe to and publish: built-ins plus its non-archived own types. */
export async function knownEventTypeNames(em: EntityManager, tenantId: string): Promise<Set<string>> {
  const own = await em.find(EventType, { tenant: tenantId, archived: false }, { fields: ['name'] });
  return new Set([...BUILT_IN_EVENT_TYPES.map((t) => t.name), ...own.map((t) => t.name)]);
}

export async function createEventType(
  em: EntityManager,
  tenantId: string,
  input: { name: string; description?: string | null; example?: unknown },
): Promise<EventTypeView> {
  const errors = new FieldErrors();
  const name = input.name.trim();
  if (!EVENT_TYPE_NAME.test(name) || name.length > EVENT_TYPE_NAME_MAX) {
    errors.add('name', `must be lowercase dotted words like "invoice.paid", at most ${EVENT_TYPE_NAME_MAX} characters`);
  } else if (isBuiltInEventType(name)) {
    errors.add('name', 'is a built-in event type');
  } else if (await em.count(EventType, { tenant: tenantId, name })) {
    errors.add('name', 'already exists');
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
  return { name, description: eventType.description ?? null, example: eventType.example ?? null, archived: false, builtIn: false };
}
