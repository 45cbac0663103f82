import type { Db, PgBoss } from 'pg-boss';
import { newId } from '../core/ids.ts';
import type { Notice } from '../core/operational-events.ts';
import { buildPayload } from '../core/payload.ts';
import type { TenantFields } from '../core/profiles/render.ts';
import type { LiveMessage } from '../live/messages.ts';
import { foldExhausted, takeClosedWindows } from './exhausted-fold.ts';
import { insertEvents, type OutgoingEvent } from './fan-out.ts';
import { type MatchableWebhook, noticeSubscribers } from './matching.ts';
import { type PublishProfile, profilesOf } from './profiles.ts';

export interface EmitOptions {
  /** HERALD_DEFAULT_PROFILE: the profile of a webhook that has none of its own nor its tenant's. */
  defaultProfile: string;
  /** false: return the QUEUED live messages for the caller to send after it commits. */
  announce?: boolean;
  /** Fold `delivery.exhausted` events into one window per webhook of this length (exhausted-fold.ts). */
  exhaustedWindowMs?: number;
}

/**
 * Sends operational events (core/operational-events.ts) through Herald's own delivery: each
 * becomes an event of its tenant with a delivery to every webhook of that tenant that names its
 * type, and a second event, of no tenant, with a delivery to every operator webhook that takes it.
 * Each delivery is pinned to its webhook's delivery profile, exactly as publishing does (its own,
 * else its tenant's, else `defaultProfile`), so a receiver verifies these like any other event;
 * the body of a profile with a body expression is rendered now (the operator's copy with the
 * tenant it is about), and one that fails fails only that delivery (TRANSFORM), which, being a
 * delivery of an operational event, reports nothing further. Written through `db` inside the
 * caller's transaction — the one that made the change the events report — so they exist exactly
 * when the change does. Nobody subscribed: nothing is written.
 */
export async function emitNotices(db: Db, boss: PgBoss, notices: readonly Notice[], options: EmitOptions): Promise<LiveMessage[]> {
  if (notices.length === 0) return [];
  const subscribers = await noticeSubscribers(db, [...new Set(notices.map((n) => n.tenantId))], [...new Set(notices.map((n) => n.type))]);
  const targets = new Map<Notice, { tenant: MatchableWebhook[]; operator: MatchableWebhook[] }>();
  for (const notice of notices) {
    const tenant = (subscribers.byTenant.get(notice.tenantId) ?? []).filter((w) => w.matches(notice.type, null));
    const operator = subscribers.operator.filter((w) => w.matches(notice.type, null));
    if (tenant.length > 0 || operator.length > 0) targets.set(notice, { tenant, operator });
  }
  let wanted = [...targets.keys()];
  if (options.exhaustedWindowMs !== undefined) wanted = await foldExhausted(db, wanted, options.exhaustedWindowMs);
  if (wanted.length === 0) return [];
  const receiving = wanted.flatMap((n) => [...targets.get(n)!.tenant, ...targets.get(n)!.operator]);
  const profiles = await profilesOf(db, receiving, options.defaultProfile);
  const events: OutgoingEvent[] = [];
  for (const notice of wanted) {
    const { tenant, operator } = targets.get(notice)!;
    const createdAt = new Date();
    const about = subscribers.tenants.get(notice.tenantId) ?? null;
    if (tenant.length > 0) events.push(eventOf(notice, notice.tenantId, about, tenant, profiles, createdAt));
    if (operator.length > 0) events.push(eventOf(notice, null, about, operator, profiles, createdAt));
  }
  return insertEvents(db, boss, events, { announce: options.announce });
}

/**
 * The event of a notice, owned by `owner` (its tenant, or null for the operator's copy); its
 * envelope and its profile expressions name the tenant it is about (`about`) either way.
 */
function eventOf(
  notice: Notice,
  owner: string | null,
  about: TenantFields | null,
  webhooks: MatchableWebhook[],
  profiles: Map<string, PublishProfile>,
  createdAt: Date,
): OutgoingEvent {
  const id = newId('evt');
  return {
    id,
    tenantId: owner,
    type: notice.type,
    channel: null,
    payload: buildPayload({ id, type: notice.type, createdAt, tenantId: notice.tenantId, channel: null, data: notice.data }),
    data: notice.data,
    tenant: about,
    idempotencyKey: null,
    requestHash: null,
    createdAt,
    webhooks: webhooks.map((w) => ({ id: w.id, paused: w.paused, profile: profiles.get(w.id)! })),
  };
}

/**
 * Closes the `delivery.exhausted` fold windows whose time is up, at most `limit`, sending each
 * one's follow-up (under HERALD_DEFAULT_PROFILE where no other applies: `defaultProfile`),
 * through `db` (run it in a transaction). Returns how many it closed.
 */
export async function closeFoldWindows(db: Db, boss: PgBoss, defaultProfile: string, limit = 100): Promise<number> {
  const { closed, followUps } = await takeClosedWindows(db, limit);
  await emitNotices(db, boss, followUps, { defaultProfile });
  return closed;
}
