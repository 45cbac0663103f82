import { isDeepStrictEqual } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import { fromKysely } from 'pg-boss';
import { ConfigError } from '../config.ts';
import { FieldErrors, HeraldError, notFound, validationError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { BUILT_IN_PROFILES, builtInProfile } from '../core/profiles/builtins.ts';
import { PROFILE_NAME, type ProfileDefinition, parseDefinition } from '../core/profiles/definition.ts';
import { ExpressionError, TRIAL_TIMEOUT_MS } from '../core/profiles/expressions.ts';
import { CompiledProfile, eventInput, TransformError } from '../core/profiles/render.ts';
import { generateSecret } from '../core/secrets.ts';
import { rawQuery } from '../db/raw-query.ts';
import { DeliveryProfile } from '../entities/DeliveryProfile.ts';
import { DeliveryProfileVersion } from '../entities/DeliveryProfileVersion.ts';
import { currentVersions as versionsThrough } from '../outbox/profiles.ts';
import { USER_AGENT } from '../version.ts';
import { requireAdmin } from './caller.ts';
import type { ServiceContext } from './context.ts';

/** A delivery profile as the API shows it. */
export interface ProfileView {
  name: string;
  description: string | null;
  definition: ProfileDefinition;
  builtIn: boolean;
  /** 1 for a built-in; each edit of a stored profile's definition adds one. */
  version: number;
  updatedAt: Date | null;
}

/** Built-ins first, then the stored profiles by name. */
export async function listProfiles(em: EntityManager): Promise<ProfileView[]> {
  const stored = await rawQuery<{
    name: string;
    description: string | null;
    version: number;
    definition: ProfileDefinition;
    updated_at: Date;
  }>(
    em,
    `select p.name, p.description, p.version, v.definition, p.updated_at
       from delivery_profile p join delivery_profile_version v on v.id = p.version_id order by p.name`,
  );
  return [
    ...BUILT_IN_PROFILES.map((p) => ({
      name: p.name,
      description: p.description,
      definition: p.definition,
      builtIn: true,
      version: 1,
      updatedAt: null,
    })),
    ...stored.map((p) => ({
      name: p.name,
      description: p.description,
      definition: p.definition,
      builtIn: false,
      version: p.version,
      updatedAt: new Date(p.updated_at),
    })),
  ];
}

/** One profile by name, built-in or stored; null when none has it. */
export async function findProfile(em: EntityManager, name: string): Promise<ProfileView | null> {
  return (await listProfiles(em)).find((p) => p.name === name) ?? null;
}

/** An event every definition is tried on before it is stored. */
const EXAMPLE_EVENT = {
  id: 'evt_01m8n514tne8nj2agspx49ygs5',
  type: 'message.delivered',
  channel: 'sms',
  createdAt: new Date('2026-11-22T10:00:00.000Z'),
  data: { messageId: 'msg_1', to: '+15550100', from: '+15550199', status: 'delivered' },
  tenant: { id: 'ten_01m8n514tne8nj2agspx49ygs5', name: 'Example', externalId: 'example' },
};

/**
 * Creates a profile or changes one (admin). The definition is checked (shape, options,
 * expressions), then rendered for an example event and attempt, each expression within 50 ms
 * (TRIAL_TIMEOUT_MS); any failure is a
 * VALIDATION_ERROR naming the field (`definition.body`, `definition.headers.X-Event`, …) and
 * nothing is stored. A changed definition becomes a new version: deliveries already published
 * keep theirs. A profile in use may not change its secret's format or scope (the stored
 * secrets would no longer fit), nor may one that tenants hold tenant-scoped secrets for — also
 * when it is made again under the name of a deleted one, whose secrets those tenants keep.
 */
export async function upsertProfile(
  ctx: ServiceContext,
  input: { name: string; description?: string | null; definition: unknown },
): Promise<ProfileView> {
  requireAdmin(ctx.caller);
  const errors = new FieldErrors();
  if (!PROFILE_NAME.test(input.name)) errors.add('name', 'must be lowercase letters, digits, ".", "_" or "-", at most 64 characters');
  else if (builtInProfile(input.name)) errors.add('name', 'is a built-in profile and cannot be changed');
  if (input.description != null && input.description.length > 1000) errors.add('description', 'must be at most 1000 characters');
  const definition = await checkDefinition(input.definition, errors);
  errors.throwIfAny();

  return ctx.em.transactional(async (tx) => {
    // Locked: two edits at once must not both become version n + 1.
    const [current] = await rawQuery<{ version: number; definition: ProfileDefinition }>(
      tx,
      `select p.version, v.definition from delivery_profile p join delivery_profile_version v on v.id = p.version_id
        where p.name = $1 for update of p`,
      [input.name],
    );
    // What the stored secrets were made for: the current version, or the last one of a profile
    // of this name deleted before (tenants keep its tenant-scoped secrets, and would sign with
    // them again under the new profile).
    const [previous] = current
      ? [current]
      : await rawQuery<{ definition: ProfileDefinition }>(
          tx,
          'select definition from delivery_profile_version where profile = $1 order by number desc limit 1',
          [input.name],
        );
    if (previous && !isDeepStrictEqual(previous.definition.secret, definition!.secret)) {
      const holders = [...(await profileUsers(tx, ctx.config, input.name)), ...(await tenantSecretHolders(tx, input.name))];
      if (holders.length) {
        throw validationError([
          {
            field: 'definition.secret',
            message: `cannot change while ${holders.join(', ')} use this profile or hold secrets made under it: those secrets would no longer fit`,
          },
        ]);
      }
    }
    const now = new Date();
    const description = input.description ?? null;
    if (current && isDeepStrictEqual(current.definition, definition)) {
      await tx.nativeUpdate(DeliveryProfile, { name: input.name }, { description, updatedAt: now });
      return { name: input.name, description, definition: definition!, builtIn: false, version: current.version, updatedAt: now };
    }
    // Numbers go on after a deleted profile of the same name: versions outlive their profile.
    const [{ last }] = await rawQuery<{ last: number | null }>(
      tx,
      'select max(number) as last from delivery_profile_version where profile = $1',
      [input.name],
    );
    const version = (last ?? 0) + 1;
    const versionId = newId('dpv');
    tx.create(DeliveryProfileVersion, { id: versionId, profile: input.name, number: version, definition: definition! });
    await tx.flush();
    await rawQuery(
      tx,
      `insert into delivery_profile (name, description, version_id, version, created_at, updated_at) values ($1, $2, $3, $4, $5, $5)
       on conflict (name) do update set description = excluded.description, version_id = excluded.version_id,
         version = excluded.version, updated_at = excluded.updated_at`,
      [input.name, description, versionId, version, now],
    );
    return { name: input.name, description, definition: definition!, builtIn: false, version, updatedAt: now };
  });
}

/** Parses, compiles and tries a definition on the example event; adds what is wrong to `errors`. */
async function checkDefinition(value: unknown, errors: FieldErrors): Promise<ProfileDefinition | null> {
  const parsed = parseDefinition(value);
  if ('errors' in parsed) {
    for (const e of parsed.errors) errors.add(e.field ? `definition.${e.field}` : 'definition', e.message);
    return null;
  }
  const { definition } = parsed;
  let profile: CompiledProfile;
  try {
    profile = new CompiledProfile({ id: 'example', name: 'example', definition }, { timeoutMs: TRIAL_TIMEOUT_MS });
  } catch (error) {
    if (!(error instanceof ExpressionError)) throw error;
    errors.add(`definition.${error.field ?? 'body'}`, error.reason);
    return null;
  }
  try {
    const input = eventInput(EXAMPLE_EVENT);
    const body = (await profile.renderBody(input)) ?? JSON.stringify({ id: input.id, data: input.data });
    await profile.renderHeaders({
      eventId: input.id,
      eventType: input.type,
      event: () => eventInput(EXAMPLE_EVENT),
      deliveryId: 'dlv_01m8n514tne8nj2agspx49ygs5',
      attemptNumber: 1,
      timestamp: input.timestampS,
      body,
      secrets: [generateSecret(definition.secret.format)],
      customHeaders: [],
      authHeaders: {},
      userAgent: USER_AGENT,
    });
  } catch (error) {
    if (!(error instanceof TransformError)) throw error;
    errors.add(`definition.${error.field}`, `${error.reason} (tried on an example message.delivered event)`);
    return null;
  }
  return definition;
}

/** Who names a profile: "2 tenant(s)", "1 webhook(s)", "HERALD_DEFAULT_PROFILE"; empty when nobody does. */
async function profileUsers(em: EntityManager, config: ServiceContext['config'], name: string): Promise<string[]> {
  const [{ tenants, webhooks }] = await rawQuery<{ tenants: number; webhooks: number }>(
    em,
    `select (select count(*)::int from tenant where profile = $1) as tenants,
            (select count(*)::int from webhook where profile = $1 and deleted_at is null) as webhooks`,
    [name],
  );
  return [
    tenants ? `${tenants} tenant(s)` : '',
    webhooks ? `${webhooks} webhook(s)` : '',
    config.defaultProfile === name ? 'HERALD_DEFAULT_PROFILE' : '',
  ].filter(Boolean);
}

/** "3 tenant secret(s)" when tenants hold secrets made under a tenant-scoped profile of this name; empty when none does. */
async function tenantSecretHolders(em: EntityManager, name: string): Promise<string[]> {
  const [{ n }] = await rawQuery<{ n: number }>(em, 'select count(*)::int as n from tenant_secret where profile = $1', [name]);
  return n ? [`${n} tenant secret(s)`] : [];
}

/**
 * Deletes a stored profile (admin): CONFLICT while a tenant or webhook names it or it is the
 * deployment's default. Its versions stay for the deliveries already published with them.
 */
export async function deleteProfile(ctx: ServiceContext, name: string): Promise<{ name: string }> {
  requireAdmin(ctx.caller);
  if (builtInProfile(name)) throw validationError([{ field: 'name', message: 'is a built-in profile and cannot be deleted' }]);
  return ctx.em.transactional(async (tx) => {
    const [row] = await rawQuery<{ name: string }>(tx, 'select name from delivery_profile where name = $1 for update', [name]);
    if (!row) throw notFound('DeliveryProfile', name);
    const users = await profileUsers(tx, ctx.config, name);
    if (users.length) throw new HeraldError('CONFLICT', `Delivery profile "${name}" is used by ${users.join(', ')}`);
    await tx.nativeDelete(DeliveryProfile, { name });
    return { name };
  });
}

/**
 * Checks, inside the caller's transaction, that a profile exists and keeps it from being deleted
 * until that transaction ends (a tenant or webhook about to name it). Built-ins always exist.
 */
export async function lockProfile(em: EntityManager, name: string): Promise<boolean> {
  if (builtInProfile(name)) return true;
  const rows = await rawQuery(em, 'select 1 from delivery_profile where name = $1 for key share', [name]);
  return rows.length > 0;
}

/**
 * The profile versions new events are published with, compiled, by profile name (missing names
 * are left out): outbox/profiles.ts on this EntityManager's connection.
 */
export function currentVersions(em: EntityManager, names: Iterable<string>): Promise<Map<string, CompiledProfile>> {
  return versionsThrough(fromKysely(em.getKysely()), names);
}

/**
 * Throws a ConfigError unless HERALD_DEFAULT_PROFILE names a profile (checked at start, once
 * the database is migrated: operators' profiles live there).
 */
export async function checkDefaultProfile(em: EntityManager, name: string): Promise<void> {
  if ((await currentVersions(em, [name])).has(name)) return;
  throw new ConfigError(
    `Invalid HERALD_DEFAULT_PROFILE=${JSON.stringify(name)}: no such delivery profile (built in: ${BUILT_IN_PROFILES.map((p) => p.name).join(', ')}; others are made with upsertDeliveryProfile)`,
  );
}
