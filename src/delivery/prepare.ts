// Stage 2 of the worker (worker.ts): prepare — the body, headers and signatures of one attempt,
// under the delivery profile version its event was published with.
import { authHeaders } from '../core/auth.ts';
import { TRANSFORM_ERROR } from '../core/delivery-state.ts';
import { newId } from '../core/ids.ts';
import { compiledBuiltIn } from '../core/profiles/builtins.ts';
import { type CompiledProfile, envelopeInput, type RenderedHeaders, TransformError } from '../core/profiles/render.ts';
import { USER_AGENT } from '../version.ts';
import type { OutboundRequest, OutboundResult } from './http-client.ts';
import type { SigningCache } from './signing-cache.ts';
import type { ClaimedDelivery, WebhookForDelivery } from './sql/claim-deliveries.ts';
import { expressionTenantId, materialKey, type ProfileMaterial } from './sql/profile-material.ts';

/** A webhook's signing secrets (newest first, only those still signing) and its auth headers, decrypted. */
export interface Credentials {
  secrets: string[];
  authHeaders: Record<string, string>;
}

/** What waits in a webhook's lane: a claimed delivery, its webhook's settings, and their credentials. */
export interface AttemptTask {
  delivery: ClaimedDelivery;
  webhook: WebhookForDelivery;
  /** The delivery's priority rank: HIGH tasks leave the lanes first. */
  priority: number;
  /** The webhook's credentials; throws when they cannot be decrypted. */
  credentials(): Credentials;
  /** What its batch's operator-defined profile versions need (claim.ts). */
  profiles: ProfileMaterial;
  /** Decrypts tenant-scoped secrets (the webhook's own come through `credentials`). */
  signing: SigningCache;
}

/** One attempt, ready to send. */
export interface PreparedAttempt {
  /** The attempt row's id (`att_…`), also announced with ATTEMPT_STARTED. */
  id: string;
  /** 1 for the first attempt of the delivery. */
  number: number;
  webhookId: string;
  startedAt: Date;
  request: OutboundRequest;
  /** The request headers as the attempt log keeps them (signatures and auth redacted). */
  loggedHeaders: Record<string, string>;
  /**
   * Set when the delivery's profile could not render this attempt (an expression failed, no
   * body was stored, no secret to sign with): nothing is sent, and this is the attempt's result,
   * error TRANSFORM.
   */
  refused: OutboundResult | null;
}

/**
 * The request of an attempt starting at `startedAt` under the delivery's profile version: the
 * body stored at publish time (every attempt sends the same bytes: Herald's envelope for the
 * built-ins, the rendered one otherwise), the webhook's custom and auth headers, Herald's
 * headers with this attempt's timestamp and number, the profile's headers and its signature.
 * Synchronous for a profile without header expressions (the built-ins); a promise otherwise.
 * Throws only when the credentials cannot be decrypted (the attempt is not made).
 */
export function prepare(task: AttemptTask, startedAt: Date): PreparedAttempt | Promise<PreparedAttempt> {
  const { delivery } = task;
  const timestamp = Math.floor(startedAt.getTime() / 1000);
  let body: string;
  let rendered: RenderedHeaders | Promise<RenderedHeaders>;
  try {
    const profile = versionOf(delivery, task.profiles);
    body = bodyOf(delivery, profile, task.profiles);
    const { secrets, authHeaders } = task.credentials();
    rendered = profile.renderHeaders({
      eventId: delivery.eventId,
      eventType: delivery.eventType,
      event: profile.readsEvent ? () => eventInputOf(delivery, task.profiles) : null,
      deliveryId: delivery.id,
      attemptNumber: delivery.attemptCount + 1,
      timestamp,
      body,
      secrets: profile.version.definition.secret.scope === 'TENANT' ? tenantSecrets(task, profile) : secrets,
      customHeaders: task.webhook.headers,
      authHeaders,
      userAgent: USER_AGENT,
    });
  } catch (err) {
    return refusedOrThrow(task, startedAt, err);
  }
  if (rendered instanceof Promise) {
    return rendered.then(
      (headers) => prepared(task, startedAt, body, headers),
      (err) => refusedOrThrow(task, startedAt, err),
    );
  }
  return prepared(task, startedAt, body, rendered);
}

function prepared(task: AttemptTask, startedAt: Date, body: string, { headers, logged }: RenderedHeaders): PreparedAttempt {
  const { delivery, webhook } = task;
  return {
    id: newId('att', startedAt.getTime()),
    number: delivery.attemptCount + 1,
    webhookId: webhook.id,
    startedAt,
    request: { url: webhook.url, headers, body, timeoutMs: webhook.timeoutMs },
    loggedHeaders: logged,
    refused: null,
  };
}

/** A TransformError becomes an attempt that is not sent (error TRANSFORM); anything else is thrown. */
function refusedOrThrow(task: AttemptTask, startedAt: Date, err: unknown): PreparedAttempt {
  if (!(err instanceof TransformError)) throw err;
  const attempt = prepared(task, startedAt, '', { headers: {}, logged: {} });
  attempt.refused = {
    status: null,
    headers: {},
    body: '',
    bodyTruncated: false,
    durationMs: 0,
    error: TRANSFORM_ERROR,
    errorMessage: err.message.slice(0, 1000),
  };
  return attempt;
}

/** The compiled profile version the delivery was published with. */
function versionOf(delivery: ClaimedDelivery, profiles: ProfileMaterial): CompiledProfile {
  const profile = compiledBuiltIn(delivery.profileVersion) ?? profiles.versions.get(delivery.profileVersion);
  if (profile) return profile;
  // What the publish stored instead of a body says why (e.g. the profile did not exist).
  const stored = profiles.bodies.get(materialKey(delivery.eventId, delivery.profileVersion));
  throw new TransformError('profile', stored?.error ?? `delivery profile version ${delivery.profileVersion} does not exist`);
}

/** The bytes every attempt sends: the event's envelope, or the body rendered when it was published. */
function bodyOf(delivery: ClaimedDelivery, profile: CompiledProfile, profiles: ProfileMaterial): string {
  if (profile.sendsEnvelope) return delivery.payload;
  const stored = profiles.bodies.get(materialKey(delivery.eventId, delivery.profileVersion));
  if (stored?.error) throw new TransformError('profile', stored.error);
  if (stored?.body == null) throw new TransformError('body', 'was not rendered when the event was published');
  return stored.body;
}

/** The input of header expressions, from the stored envelope (parsed only if an expression reads more than the id and type). */
function eventInputOf(delivery: ClaimedDelivery, profiles: ProfileMaterial) {
  const tenantId = expressionTenantId(delivery);
  const tenant = tenantId === null ? null : (profiles.tenants.get(tenantId) ?? { id: tenantId, name: '', externalId: null });
  return envelopeInput(delivery.payload, { id: delivery.eventId, type: delivery.eventType, tenant });
}

/** The tenant's live secrets under a tenant-scoped profile, newest first (none: the signature is a TRANSFORM failure). */
function tenantSecrets(task: AttemptTask, profile: CompiledProfile): string[] {
  const { delivery } = task;
  // An operator webhook's delivery has no tenant to sign for (such profiles are refused for them).
  if (delivery.tenantId === null) return [];
  const stored = task.profiles.tenantSecrets.get(materialKey(delivery.tenantId, delivery.profileVersion)) ?? [];
  return task.signing.tenantSecrets(delivery.tenantId, profile.version.name, stored);
}

/**
 * The credentials of one claimed batch's webhooks: each is read from the signing cache once,
 * when its first attempt is prepared — so a secret that cannot be decrypted fails that
 * webhook's attempts (tried again later), not the batch.
 */
export function batchCredentials(cache: SigningCache): (webhook: WebhookForDelivery) => () => Credentials {
  const byWebhook = new Map<string, () => Credentials>();
  return (webhook) => {
    let get = byWebhook.get(webhook.id);
    if (!get) {
      let credentials: Credentials | undefined;
      get = () => {
        if (!credentials) {
          const { secrets, auth } = cache.get(webhook);
          credentials = { secrets, authHeaders: authHeaders(auth) };
        }
        return credentials;
      };
      byWebhook.set(webhook.id, get);
    }
    return get;
  };
}
