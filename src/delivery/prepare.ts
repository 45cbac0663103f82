// Stage 2 of the worker (worker.ts): prepare — the body, headers and signatures of one attempt.
import { authHeaders } from '../core/auth.ts';
import { newId } from '../core/ids.ts';
import { type SignatureScheme, signatureHeaders } from '../core/signing.ts';
import type { CustomHeader } from '../entities/Webhook.ts';
import { VERSION } from '../version.ts';
import type { OutboundRequest } from './http-client.ts';
import type { SigningCache } from './signing-cache.ts';
import type { ClaimedDelivery, WebhookForDelivery } from './sql/claim-deliveries.ts';

const USER_AGENT = `Herald/${VERSION}`;

/** Header values never written to the attempt log. */
export const REDACTED = '[redacted]';

export interface AttemptRequestInput {
  eventId: string;
  eventType: string;
  deliveryId: string;
  attemptNumber: number;
  /** The exact JSON body built at publish time. */
  payload: string;
  scheme: SignatureScheme;
  /** Signing secrets, newest first. */
  secrets: string[];
  customHeaders: CustomHeader[];
  authHeaders: Record<string, string>;
  now?: Date;
}

/**
 * The headers of one attempt, and the same headers as logged (signature and auth redacted).
 * Custom headers go first so Herald's own can never be replaced by them.
 */
export function buildAttemptHeaders(input: AttemptRequestInput): { headers: Record<string, string>; logged: Record<string, string> } {
  const timestamp = Math.floor((input.now ?? new Date()).getTime() / 1000);
  const headers: Record<string, string> = {};
  for (const { name, value } of input.customHeaders) headers[name.toLowerCase()] = value;
  Object.assign(headers, input.authHeaders, {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': input.eventId,
    'webhook-timestamp': String(timestamp),
    'herald-event-type': input.eventType,
    'herald-delivery-id': input.deliveryId,
    'herald-attempt': String(input.attemptNumber),
  });
  const signatures = signatureHeaders({
    scheme: input.scheme,
    secrets: input.secrets,
    msgId: input.eventId,
    timestamp,
    body: input.payload,
  });
  Object.assign(headers, signatures);

  const logged = { ...headers };
  for (const name of [...Object.keys(input.authHeaders), ...Object.keys(signatures)]) logged[name] = REDACTED;
  return { headers, logged };
}

/** A webhook's signing secrets (newest first, only those still signing) and its auth headers, decrypted. */
export interface Credentials {
  secrets: string[];
  authHeaders: Record<string, string>;
}

/** What waits in a webhook's lane: a claimed delivery, its webhook's settings, and their credentials. */
export interface AttemptTask {
  delivery: ClaimedDelivery;
  webhook: WebhookForDelivery;
  /** The webhook's credentials; throws when they cannot be decrypted. */
  credentials(): Credentials;
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
}

/**
 * The request of an attempt starting at `startedAt`: the body stored at publish time (every
 * attempt sends the same bytes), Herald's headers with this attempt's timestamp and number, the
 * webhook's custom and auth headers, and the signatures of its scheme.
 */
export function prepare(task: AttemptTask, startedAt: Date): PreparedAttempt {
  const { delivery, webhook } = task;
  const number = delivery.attemptCount + 1;
  const { secrets, authHeaders } = task.credentials();
  const { headers, logged } = buildAttemptHeaders({
    eventId: delivery.eventId,
    eventType: delivery.eventType,
    deliveryId: delivery.id,
    attemptNumber: number,
    payload: delivery.payload,
    scheme: webhook.signatureScheme,
    secrets,
    customHeaders: webhook.headers,
    authHeaders,
    now: startedAt,
  });
  return {
    id: newId('att', startedAt.getTime()),
    number,
    webhookId: webhook.id,
    startedAt,
    request: { url: webhook.url, headers, body: delivery.payload, timeoutMs: webhook.timeoutMs },
    loggedHeaders: logged,
  };
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
