import type { EntityManager } from '@mikro-orm/postgresql';
import { notFound, validationError } from '../core/errors.ts';
import { newId } from '../core/ids.ts';
import { generatePortalSecret, hashApiKey } from '../core/secrets.ts';
import { rawQuery } from '../db/raw-query.ts';
import { type IPortalSession, PortalSession } from '../entities/PortalSession.ts';
import { notifyLive } from '../live/messages.ts';
import { type Caller, resolveTenantId, tenantScope } from './caller.ts';
import type { ServiceContext } from './context.ts';

/** How long a session (and its unused link) lasts unless the platform says: 1 hour. */
export const DEFAULT_PORTAL_SESSION_SECONDS = 3600;
/** The longest a session may last: 24 hours. */
export const MAX_PORTAL_SESSION_SECONDS = 24 * 3600;

export interface CreatePortalSessionInput {
  tenantId?: string | null;
  expiresInSeconds?: number | null;
  readOnly?: boolean | null;
}

export interface CreatedPortalSession {
  session: IPortalSession;
  /** `<public URL>/portal#code=<one-time code>`: the code rides in the fragment, which browsers never send. */
  url: string;
}

/**
 * Opens a portal link for one tenant (the admin key names it; a tenant key gets its own). The
 * link's code is returned once, inside `url`, and stored only as a hash. `publicUrl` is where
 * browsers reach Herald, without a trailing slash.
 * @throws HeraldError VALIDATION_ERROR (expiresInSeconds outside 1–86 400; the admin key without
 *   tenantId), NOT_FOUND (an unknown tenant, or another tenant named by a tenant key).
 */
export async function createPortalSession(
  ctx: ServiceContext,
  input: CreatePortalSessionInput,
  publicUrl: string,
): Promise<CreatedPortalSession> {
  const seconds = input.expiresInSeconds ?? DEFAULT_PORTAL_SESSION_SECONDS;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_PORTAL_SESSION_SECONDS) {
    throw validationError([{ field: 'expiresInSeconds', message: `must be between 1 and ${MAX_PORTAL_SESSION_SECONDS} (24 h)` }]);
  }
  const tenantId = await resolveTenantId(ctx.em, ctx.caller, input.tenantId);
  const code = generatePortalSecret('code');
  const now = new Date();
  const session = ctx.em.create(PortalSession, {
    id: newId('ps'),
    tenant: tenantId,
    readOnly: input.readOnly ?? false,
    codeHash: code.hash,
    createdAt: now,
    expiresAt: new Date(now.getTime() + seconds * 1000),
  });
  await ctx.em.flush();
  return { session, url: `${publicUrl}/portal#code=${encodeURIComponent(code.secret)}` };
}

/**
 * Ends a session now (its link too, if unused): requests with it are refused from then on, and
 * every API process ends the subscriptions and connections it opened (announced with NOTIFY when
 * this commits; see live/credentials.ts). Revoking twice keeps the first time.
 * @throws HeraldError NOT_FOUND when the session is not the caller's tenant's.
 */
export async function revokePortalSession(em: EntityManager, caller: Caller, id: string): Promise<IPortalSession> {
  const session = await em.findOne(PortalSession, { id, ...tenantScope(caller) });
  if (!session) throw notFound('PortalSession', id);
  await em.transactional(async (tx) => {
    session.revokedAt ??= new Date();
    await tx.flush();
    await notifyLive((sql, params) => rawQuery(tx, sql, params), [{ kind: 'revoked', credentialId: session.id }]);
  });
  return session;
}

/**
 * The caller a link's code would open a session for, or null when the code is unknown, already
 * used, revoked or expired. Spends nothing: openPortalSession does, after the request is let in.
 */
export async function portalCodeCaller(em: EntityManager, code: string): Promise<Caller | null> {
  const [row] = await rawQuery<{ id: string; tenant_id: string; read_only: boolean; expires_at: Date | string }>(
    em,
    `select id, tenant_id, read_only, expires_at from portal_session
      where code_hash = $1 and opened_at is null and revoked_at is null and expires_at > now()`,
    [hashApiKey(code)],
  );
  return row ? portalCaller(row) : null;
}

const portalCaller = (row: { id: string; tenant_id: string; read_only: boolean; expires_at: Date | string }): Caller => ({
  kind: 'portal',
  tenantId: row.tenant_id,
  sessionId: row.id,
  readOnly: row.read_only,
  expiresAt: new Date(row.expires_at),
});

export interface OpenedPortalSession {
  /** The session's bearer token (`hrldp_…`). Returned once; only its hash is kept. */
  token: string;
  sessionId: string;
  tenantId: string;
  tenantName: string;
  readOnly: boolean;
  expiresAt: Date;
}

/**
 * Spends a link's one-time code for the session's bearer token. One statement decides, so two
 * concurrent exchanges of one code cannot both win. Null when the code is unknown, already
 * used, revoked or expired: the caller cannot tell which, and need not.
 */
export async function openPortalSession(em: EntityManager, code: string): Promise<OpenedPortalSession | null> {
  const token = generatePortalSecret('token');
  const [row] = await rawQuery<{ id: string; tenant_id: string; tenant_name: string; read_only: boolean; expires_at: Date | string }>(
    em,
    `update portal_session s set opened_at = now(), token_hash = $2
       from tenant t
      where s.code_hash = $1 and s.opened_at is null and s.revoked_at is null and s.expires_at > now() and t.id = s.tenant_id
      returning s.id, s.tenant_id, t.name as tenant_name, s.read_only, s.expires_at`,
    [hashApiKey(code), token.hash],
  );
  if (!row) return null;
  return {
    token: token.secret,
    sessionId: row.id,
    tenantId: row.tenant_id,
    tenantName: row.tenant_name,
    readOnly: row.read_only,
    expiresAt: new Date(row.expires_at),
  };
}

/** The caller of a portal session token, or null when it is unknown, revoked or expired. */
export async function authenticatePortalToken(em: EntityManager, token: string): Promise<Caller | null> {
  // Every request of the portal comes here: plain SQL, no entity to hydrate.
  const [row] = await rawQuery<{ id: string; tenant_id: string; read_only: boolean; expires_at: Date | string }>(
    em,
    'select id, tenant_id, read_only, expires_at from portal_session where token_hash = $1 and revoked_at is null and expires_at > now()',
    [hashApiKey(token)],
  );
  return row ? portalCaller(row) : null;
}
