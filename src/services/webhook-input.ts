import type { ParsedCidr } from '../core/address.ts';
import type { StoredAuth } from '../core/auth.ts';
import type { FieldErrors } from '../core/errors.ts';
import { FIELD_VALUE_RULE, HEADER_NAME, HTTP_MANAGED_HEADERS, isFieldValue } from '../core/http-fields.ts';
import { isOperationalEventType } from '../core/operational-events.ts';
import { SIGNATURE_HEADER_NAMES } from '../core/signing.ts';
import { blockedHost, parseWebhookUrl } from '../core/webhook-url.ts';
import type { CustomHeader, WebhookAuthType } from '../entities/Webhook.ts';

export const TIMEOUT_MS = { min: 1000, max: 30000, default: 15000 };
export const MAX_IN_FLIGHT = { min: 1, max: 100, default: 10 };
/** Deliveries a second. */
export const RATE_LIMIT = { min: 0.1, max: 10_000 };
export const RETRY_SCHEDULE = { maxEntries: 20, minSeconds: 1, maxSeconds: 7 * 24 * 3600 };
const MAX_HEADERS = 20;
const CHANNEL = /^[a-z0-9][a-z0-9_.-]{0,49}$/;

/** Headers Herald sets itself; a custom header must not replace them (nor those HTTP manages: HTTP_MANAGED_HEADERS). */
const RESERVED_HEADERS = new Set(['content-type', 'user-agent', 'authorization', 'x-api-key', ...SIGNATURE_HEADER_NAMES]);

export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.has(lower) || lower.startsWith('webhook-') || lower.startsWith('herald-');
}

export interface WebhookAuthInput {
  type: WebhookAuthType;
  token?: string | null;
  username?: string | null;
  password?: string | null;
  headerName?: string | null;
  headerValue?: string | null;
}

/**
 * Checks a webhook URL; returns it normalised (what is stored and requested), or undefined after
 * adding the error. A host that is an IP literal the SSRF guard would refuse (`allowedCidrs`:
 * HERALD_ALLOWED_CIDRS, parsed) is refused here, not retried for days as BLOCKED_ADDRESS.
 */
export function validateUrl(errors: FieldErrors, value: string, allowHttp: boolean, allowedCidrs: ParsedCidr[]): string | undefined {
  const checked = parseWebhookUrl(value, allowHttp);
  if ('problem' in checked) {
    errors.add('url', checked.problem);
    return undefined;
  }
  const blocked = blockedHost(checked.url, allowedCidrs);
  if (blocked) {
    errors.add(
      'url',
      `points at ${blocked.host}, ${blocked.reason}, which Herald never delivers to (the SSRF guard); HERALD_ALLOWED_CIDRS can allow its range`,
    );
    return undefined;
  }
  return checked.href;
}

/**
 * `events`: known names (not archived), or "*" — which takes every type but the operational ones,
 * so those may be named beside it (`["*", "delivery.exhausted"]`). Names in `subscribed` (the
 * webhook's current list) stay allowed even if archived since.
 */
export function validateEvents(errors: FieldErrors, events: string[], known: Set<string>, subscribed: readonly string[] = []): void {
  if (events.length === 0) return errors.add('events', 'must name at least one event type, or be ["*"]');
  if (events.includes('*') && events.some((e) => e !== '*' && !isOperationalEventType(e))) {
    return errors.add('events', '"*" can be combined only with operational event names (webhook.disabled, delivery.exhausted, …)');
  }
  const unknown = events.filter((e) => e !== '*' && !known.has(e) && !subscribed.includes(e));
  if (unknown.length > 0) errors.add('events', `unknown event type(s): ${unknown.join(', ')}`);
  if (new Set(events).size !== events.length) errors.add('events', 'contains duplicates');
}

export function validateChannels(errors: FieldErrors, channels: string[]): void {
  if (channels.length === 0) return errors.add('channels', 'must not be empty (omit it to receive every channel)');
  if (channels.length > 20) errors.add('channels', 'at most 20 channels');
  const bad = channels.filter((c) => !CHANNEL.test(c));
  if (bad.length) errors.add('channels', `invalid channel name(s): ${bad.join(', ')}`);
}

export function validateTimeout(errors: FieldErrors, timeoutMs: number): void {
  if (!Number.isInteger(timeoutMs) || timeoutMs < TIMEOUT_MS.min || timeoutMs > TIMEOUT_MS.max) {
    errors.add('timeoutMs', `must be between ${TIMEOUT_MS.min} and ${TIMEOUT_MS.max}`);
  }
}

export function validateMaxInFlight(errors: FieldErrors, maxInFlight: number): void {
  if (!Number.isInteger(maxInFlight) || maxInFlight < MAX_IN_FLIGHT.min || maxInFlight > MAX_IN_FLIGHT.max) {
    errors.add('maxInFlight', `must be between ${MAX_IN_FLIGHT.min} and ${MAX_IN_FLIGHT.max}`);
  }
}

export function validateRateLimit(errors: FieldErrors, rateLimit: number): void {
  if (!Number.isFinite(rateLimit) || rateLimit < RATE_LIMIT.min || rateLimit > RATE_LIMIT.max) {
    errors.add('rateLimit', `must be between ${RATE_LIMIT.min} and ${RATE_LIMIT.max} deliveries per second (null: no limit)`);
  }
}

export function validateRetrySchedule(errors: FieldErrors, schedule: number[]): void {
  if (schedule.length > RETRY_SCHEDULE.maxEntries) {
    return errors.add('retrySchedule', `at most ${RETRY_SCHEDULE.maxEntries} entries`);
  }
  if (schedule.some((s) => !Number.isInteger(s) || s < RETRY_SCHEDULE.minSeconds || s > RETRY_SCHEDULE.maxSeconds)) {
    errors.add('retrySchedule', `each delay must be between ${RETRY_SCHEDULE.minSeconds} s and 7 days (${RETRY_SCHEDULE.maxSeconds} s)`);
  }
}

export function validateHeaders(errors: FieldErrors, headers: CustomHeader[]): void {
  if (headers.length > MAX_HEADERS) return errors.add('headers', `at most ${MAX_HEADERS} headers`);
  const seen = new Set<string>();
  for (const { name, value } of headers) {
    if (!HEADER_NAME.test(name)) errors.add('headers', `"${name}" is not a valid header name`);
    else if (isReservedHeader(name)) errors.add('headers', `"${name}" is set by Herald and cannot be overridden`);
    else if (HTTP_MANAGED_HEADERS.has(name.toLowerCase())) errors.add('headers', `"${name}" is managed by HTTP itself and cannot be set`);
    else if (seen.has(name.toLowerCase())) errors.add('headers', `"${name}" appears twice`);
    if (value.length > 4096) errors.add('headers', `the value of "${name}" is longer than 4096 characters`);
    else if (!isFieldValue(value)) errors.add('headers', `the value of "${name}" may hold ${FIELD_VALUE_RULE}`);
    seen.add(name.toLowerCase());
  }
}

/** Checks an auth input and returns what to store. */
export function validateAuth(errors: FieldErrors, input: WebhookAuthInput): StoredAuth | undefined {
  const required = (key: keyof WebhookAuthInput): string | undefined => {
    const value = input[key];
    if (typeof value !== 'string' || value === '') {
      errors.add(`auth.${key}`, `is required for auth type ${input.type}`);
      return undefined;
    }
    if (value.length > 4096 || !isFieldValue(value)) {
      errors.add(`auth.${key}`, `is invalid: at most 4096 characters, ${FIELD_VALUE_RULE}`);
      return undefined;
    }
    return value;
  };
  switch (input.type) {
    case 'NONE':
      return { type: 'NONE' };
    case 'BEARER':
    case 'API_KEY': {
      const token = required('token');
      return token ? { type: input.type, token } : undefined;
    }
    case 'BASIC': {
      const username = required('username');
      const password = required('password');
      if (username?.includes(':')) errors.add('auth.username', 'must not contain ":"');
      return username && password ? { type: 'BASIC', username, password } : undefined;
    }
    case 'CUSTOM_HEADER': {
      const headerName = required('headerName');
      const headerValue = required('headerValue');
      if (headerName && !HEADER_NAME.test(headerName)) errors.add('auth.headerName', 'is not a valid header name');
      else if (
        headerName &&
        headerName.toLowerCase() !== 'authorization' &&
        (isReservedHeader(headerName) || HTTP_MANAGED_HEADERS.has(headerName.toLowerCase()))
      ) {
        errors.add('auth.headerName', `"${headerName}" is set by Herald and cannot be used`);
      }
      return headerName && headerValue ? { type: 'CUSTOM_HEADER', headerName, headerValue } : undefined;
    }
  }
}
