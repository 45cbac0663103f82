// A verifier of Herald's own three schemes (package export `herald/verify`): checks a
// delivery's signature and freshness, then returns the parsed body. Pure: only node:crypto.
// The tests check deliveries with it; Herald is not published, so receivers use the public
// libraries instead (README, What endpoints receive).
import { safeEqual } from './secrets.ts';
import type { SignatureScheme } from './signing.ts';
import {
  HMAC_SIGNATURE_HEADER,
  hmacSignature,
  STANDARD_SIGNATURE_HEADER,
  STRIPE_SIGNATURE_HEADER,
  standardSignature,
  stripeSignature,
} from './signing.ts';

export type { SignatureScheme };

export class WebhookVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookVerificationError';
  }
}

export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>;

export interface VerifyWebhookOptions {
  /** The webhook's `whsec_…` signing secret. */
  secret: string;
  headers: WebhookHeaders;
  /** The raw request body, exactly as received (not re-serialized JSON). */
  body: string | Uint8Array;
  scheme?: SignatureScheme;
  /** Maximum clock difference in either direction; `Infinity` turns the check off. */
  toleranceSeconds?: number;
  now?: Date;
}

/** Verifies a delivery and returns its parsed JSON body; throws `WebhookVerificationError`. */
export function verifyWebhook(options: VerifyWebhookOptions): unknown {
  const { secret, headers, body, scheme = 'STANDARD', toleranceSeconds = 300, now = new Date() } = options;
  const nowSeconds = Math.floor(now.getTime() / 1000);

  switch (scheme) {
    case 'STANDARD':
      verifyStandard(secret, headers, body, nowSeconds, toleranceSeconds);
      break;
    case 'STRIPE':
      verifyStripe(secret, headers, body, nowSeconds, toleranceSeconds);
      break;
    case 'HMAC_SHA256':
      verifyHmac(secret, headers, body, nowSeconds, toleranceSeconds);
      break;
    default:
      throw new WebhookVerificationError(`Unknown signature scheme: ${String(scheme)}`);
  }
  return parseJson(body);
}

function verifyStandard(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  nowSeconds: number,
  toleranceSeconds: number,
): void {
  const msgId = requireHeader(headers, 'webhook-id');
  const timestampHeader = requireHeader(headers, 'webhook-timestamp');
  const signatureHeader = requireHeader(headers, STANDARD_SIGNATURE_HEADER);
  const timestamp = parseTimestamp(timestampHeader, 'webhook-timestamp');
  checkTolerance(timestamp, nowSeconds, toleranceSeconds);

  const expected = standardSignature(secret, msgId, timestamp, body);
  // Entries look like `v1,<base64>`; other versions (e.g. asymmetric `v1a`) are skipped.
  const candidates = signatureHeader
    .split(/\s+/)
    .filter((entry) => entry.startsWith('v1,'))
    .map((entry) => entry.slice('v1,'.length));
  requireMatch(expected, candidates);
}

function verifyStripe(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  nowSeconds: number,
  toleranceSeconds: number,
): void {
  const header = requireHeader(headers, STRIPE_SIGNATURE_HEADER);
  let timestampValue: string | undefined;
  const candidates: string[] = [];
  for (const item of header.split(',')) {
    const separator = item.indexOf('=');
    if (separator === -1) continue;
    const name = item.slice(0, separator).trim();
    const value = item.slice(separator + 1).trim();
    if (name === 't') {
      if (timestampValue !== undefined) {
        throw new WebhookVerificationError(`${STRIPE_SIGNATURE_HEADER} has more than one t=`);
      }
      timestampValue = value;
    } else if (name === 'v1') {
      candidates.push(value);
    }
  }
  if (timestampValue === undefined) {
    throw new WebhookVerificationError(`${STRIPE_SIGNATURE_HEADER} has no t= timestamp`);
  }
  const timestamp = parseTimestamp(timestampValue, `${STRIPE_SIGNATURE_HEADER} t=`);
  checkTolerance(timestamp, nowSeconds, toleranceSeconds);
  requireMatch(stripeSignature(secret, timestamp, body), candidates);
}

function verifyHmac(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
  nowSeconds: number,
  toleranceSeconds: number,
): void {
  const header = requireHeader(headers, HMAC_SIGNATURE_HEADER);
  if (!header.startsWith('sha256=')) {
    throw new WebhookVerificationError(`${HMAC_SIGNATURE_HEADER} must start with sha256=`);
  }
  requireMatch(hmacSignature(secret, body), [header.slice('sha256='.length).trim()]);
  // This scheme signs the body only, so the timestamp is not covered by the
  // signature; checking it when present still rejects obviously stale replays.
  const timestampHeader = getHeader(headers, 'webhook-timestamp');
  if (timestampHeader !== undefined) {
    checkTolerance(parseTimestamp(timestampHeader, 'webhook-timestamp'), nowSeconds, toleranceSeconds);
  }
}

function requireMatch(expected: string, candidates: readonly string[]): void {
  if (candidates.length === 0) {
    throw new WebhookVerificationError('No signature in the expected format was found');
  }
  // Compare against every candidate, without stopping early, so timing does not
  // reveal which position matched.
  let matched = false;
  for (const candidate of candidates) {
    if (safeEqual(candidate, expected)) matched = true;
  }
  if (!matched) throw new WebhookVerificationError('No matching signature found');
}

function parseTimestamp(value: string, source: string): number {
  const trimmed = value.trim();
  if (!/^\d{1,15}$/.test(trimmed)) {
    throw new WebhookVerificationError(`Invalid timestamp in ${source}: ${JSON.stringify(value)}`);
  }
  return Number(trimmed);
}

function checkTolerance(timestamp: number, nowSeconds: number, toleranceSeconds: number): void {
  if (nowSeconds - timestamp > toleranceSeconds) {
    throw new WebhookVerificationError('Message timestamp too old');
  }
  if (timestamp - nowSeconds > toleranceSeconds) {
    throw new WebhookVerificationError('Message timestamp too new');
  }
}

function requireHeader(headers: WebhookHeaders, name: string): string {
  const value = getHeader(headers, name);
  if (value === undefined || value === '') {
    throw new WebhookVerificationError(`Missing ${name} header`);
  }
  return value;
}

/** Case-insensitive lookup in a `Headers` or a plain object (as Node's `req.headers`). */
function getHeader(headers: WebhookHeaders, name: string): string | undefined {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name) continue;
    // Repeated headers are joined the way `Headers#get` joins them.
    return Array.isArray(value) ? value.join(', ') : value;
  }
  return undefined;
}

function parseJson(body: string | Uint8Array): unknown {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  try {
    return JSON.parse(text);
  } catch {
    throw new WebhookVerificationError('Webhook body is not valid JSON');
  }
}
