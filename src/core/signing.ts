// Signature headers for an outgoing delivery, one scheme per webhook
// (DESIGN.md, "What an endpoint receives"). Pure: only node:crypto.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { BoundedMap } from './bounded-map.ts';
import type { SignatureSpec, SigningKey } from './profiles/definition.ts';
import { signingKeyBytes } from './secrets.ts';

export type SignatureScheme = 'STANDARD' | 'STRIPE' | 'HMAC_SHA256';

export const SIGNATURE_SCHEMES: readonly SignatureScheme[] = Object.freeze(['STANDARD', 'STRIPE', 'HMAC_SHA256']);

export const STANDARD_SIGNATURE_HEADER = 'webhook-signature';
export const STRIPE_SIGNATURE_HEADER = 'herald-signature';
export const HMAC_SIGNATURE_HEADER = 'x-herald-signature';

/**
 * Every header this module may set, lowercase. A webhook's custom headers
 * must not use these names, or they could replace the real signature.
 */
export const SIGNATURE_HEADER_NAMES: readonly string[] = Object.freeze([
  STANDARD_SIGNATURE_HEADER,
  STRIPE_SIGNATURE_HEADER,
  HMAC_SIGNATURE_HEADER,
]);

export interface SignatureInput {
  scheme: SignatureScheme;
  /** `whsec_…` secrets, newest first; more than one while a rotation's grace period runs. */
  secrets: readonly string[];
  /** The `webhook-id` header value (the event id). */
  msgId: string;
  /** Unix seconds, the same value sent as `webhook-timestamp`. */
  timestamp: number;
  /** The exact bytes sent as the request body. */
  body: string | Uint8Array;
}

/** The signature header of `scheme` for one attempt. */
export function signatureHeaders(input: SignatureInput): Record<string, string> {
  const { scheme, secrets, msgId, timestamp, body } = input;
  if (secrets.length === 0) throw new Error('At least one signing secret is required');
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new Error(`Signature timestamp must be whole unix seconds, got ${timestamp}`);
  }
  switch (scheme) {
    case 'STANDARD': {
      const signatures = secrets.map((secret) => `v1,${standardSignature(secret, msgId, timestamp, body)}`);
      // Receivers accept the message if any listed signature matches, so old
      // and new secrets both work during rotation.
      return { [STANDARD_SIGNATURE_HEADER]: signatures.join(' ') };
    }
    case 'STRIPE': {
      const signatures = secrets.map((secret) => `v1=${stripeSignature(secret, timestamp, body)}`);
      return { [STRIPE_SIGNATURE_HEADER]: [`t=${timestamp}`, ...signatures].join(',') };
    }
    case 'HMAC_SHA256':
      // The single-value format has no room for a list: newest secret only.
      return { [HMAC_SIGNATURE_HEADER]: `sha256=${hmacSignature(secrets[0], body)}` };
    default:
      throw new Error(`Unknown signature scheme: ${String(scheme satisfies never)}`);
  }
}

/**
 * HMAC keys by secret and key kind. Turning raw bytes into a key on every call is the costliest
 * part of signing; a worker signs with the same few secrets thousands of times a second.
 */
const keys = new BoundedMap<string, KeyObject>(10_000);

function hmacKey(secret: string, kind: SigningKey): KeyObject {
  const cacheKey = `${kind}:${secret}`;
  let key = keys.get(cacheKey);
  if (!key) {
    key = createSecretKey(signingKeyBytes(secret, kind));
    keys.set(cacheKey, key);
  }
  return key;
}

/** Standard Webhooks: base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the decoded key. */
export function standardSignature(secret: string, msgId: string, timestamp: number, body: string | Uint8Array): string {
  return createHmac('sha256', hmacKey(secret, 'WHSEC_DECODED')).update(`${msgId}.${timestamp}.`, 'utf8').update(body).digest('base64');
}

/** Stripe style: hex HMAC-SHA256 of `{t}.{body}`, keyed by the whole secret string. */
export function stripeSignature(secret: string, timestamp: number, body: string | Uint8Array): string {
  return createHmac('sha256', hmacKey(secret, 'SECRET_BYTES')).update(`${timestamp}.`, 'utf8').update(body).digest('hex');
}

/** Plain: hex HMAC-SHA256 of the body, keyed by the whole secret string. */
export function hmacSignature(secret: string, body: string | Uint8Array): string {
  return createHmac('sha256', hmacKey(secret, 'SECRET_BYTES')).update(body).digest('hex');
}

/**
 * The signature header value of a delivery profile (`spec`) for one attempt: HMAC-SHA256 of
 * what `spec.signs` names, under each secret (newest first), written in `spec.format`. List
 * formats carry every secret; single-value ones the newest only. With `redact`, each signature
 * is `[redacted]` (previews). Throws if a secret does not fit `spec.key`.
 */
export function profileSignature(spec: SignatureSpec, input: Omit<SignatureInput, 'scheme'> & { redact?: boolean }): string {
  const { secrets, msgId, timestamp, body } = input;
  if (secrets.length === 0) throw new Error('At least one signing secret is required');
  const sign = (secret: string): string => {
    if (input.redact) return '[redacted]';
    const hmac = createHmac('sha256', hmacKey(secret, spec.key));
    if (spec.signs === 'TIMESTAMP_DOT_BODY') hmac.update(`${timestamp}.`, 'utf8');
    else if (spec.signs === 'ID_DOT_TIMESTAMP_DOT_BODY') hmac.update(`${msgId}.${timestamp}.`, 'utf8');
    return hmac.update(body).digest(spec.encoding === 'HEX' ? 'hex' : 'base64');
  };
  switch (spec.format) {
    case 'v1,{sig}':
      return secrets.map((secret) => `v1,${sign(secret)}`).join(' ');
    case 't={t},v1={sig}':
      return [`t=${timestamp}`, ...secrets.map((secret) => `v1=${sign(secret)}`)].join(',');
    case 'sha256={sig}':
      return `sha256=${sign(secrets[0])}`;
    case '{sig}':
      return sign(secrets[0]);
  }
}
