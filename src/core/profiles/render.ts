// The renderer of delivery profiles: event + profile version → body bytes (once, at publish);
// attempt → headers and signature. Pure: no I/O; the clock and secrets are passed in.

import { FIELD_VALUE_RULE, isFieldValue } from '../http-fields.ts';
import { idHex } from '../ids.ts';
import { profileSignature } from '../signing.ts';
import type { ProfileDefinition } from './definition.ts';
import { type CompiledExpression, compileExpression, ExpressionError } from './expressions.ts';

/** Largest body a profile may render, in bytes of UTF-8. */
export const MAX_RENDERED_BODY_BYTES = 1024 * 1024;
const MAX_HEADER_VALUE_LENGTH = 4096;

/** Header values never shown in an attempt log or a preview. */
export const REDACTED = '[redacted]';

/** One immutable version of a profile: what a delivery is pinned to when its event is published. */
export interface ProfileVersion {
  /** The built-in's name (`standard`, `stripe`, `hmac-sha256`) or a stored version's id (`dpv_…`). */
  id: string;
  /** The profile's name. */
  name: string;
  definition: ProfileDefinition;
}

export interface TenantFields {
  id: string;
  name: string;
  /** The platform's own id for this customer (e.g. Zavu's projectId); null when not set. */
  externalId: string | null;
}

/** An event as a profile sees it. */
export interface EventFields {
  id: string;
  type: string;
  channel: string | null;
  createdAt: Date;
  data: unknown;
  /** null for an event of no tenant (a test event sent to an operator webhook). */
  tenant: TenantFields | null;
}

/**
 * What body and header expressions are evaluated over (README "Delivery profiles"). Header
 * expressions also see `delivery { id }` and `attempt { number timestampS }`.
 */
export interface ExpressionInput {
  id: string;
  /** The event id's 128 bits as 32 hex characters. */
  idHex: string;
  type: string;
  channel: string | null;
  tenantId: string | null;
  tenant: TenantFields | null;
  data: unknown;
  /** ISO 8601 UTC time of the event. */
  timestamp: string;
  timestampMs: number;
  timestampS: number;
}

/** The expression input of an event. */
export function eventInput(event: EventFields): ExpressionInput {
  const ms = event.createdAt.getTime();
  return {
    id: event.id,
    idHex: idHex(event.id),
    type: event.type,
    channel: event.channel,
    tenantId: event.tenant?.id ?? null,
    tenant: event.tenant,
    data: event.data,
    timestamp: event.createdAt.toISOString(),
    timestampMs: ms,
    timestampS: Math.floor(ms / 1000),
  };
}

/**
 * The expression input of an event stored as Herald's envelope (`{"id","type","timestamp",…}`),
 * parsed only if an expression reads a field the caller did not give (most header expressions
 * need only the id and type).
 */
export function envelopeInput(envelope: string, known: { id: string; type: string; tenant: TenantFields | null }): ExpressionInput {
  let parsed: { timestamp: string; channel: string | null; data: unknown } | undefined;
  const event = () => (parsed ??= JSON.parse(envelope) as { timestamp: string; channel: string | null; data: unknown });
  const ms = () => Date.parse(event().timestamp);
  return Object.defineProperties(
    { id: known.id, type: known.type, tenantId: known.tenant?.id ?? null, tenant: known.tenant } as ExpressionInput,
    {
      idHex: { enumerable: true, get: () => idHex(known.id) },
      channel: { enumerable: true, get: () => event().channel },
      data: { enumerable: true, get: () => event().data },
      timestamp: { enumerable: true, get: () => event().timestamp },
      timestampMs: { enumerable: true, get: ms },
      timestampS: { enumerable: true, get: () => Math.floor(ms() / 1000) },
    },
  );
}

/** One attempt, as the headers are rendered for it. */
export interface AttemptFields {
  eventId: string;
  eventType: string;
  /**
   * The event's expression input, asked for only when the profile has header expressions (most
   * attempts need just the id and type). Each call must return a new object: the attempt's
   * `delivery` and `attempt` are added to it. May be null when the profile reads no event field
   * (`readsEvent` false): the built-ins, on the worker's hot path.
   */
  event: (() => ExpressionInput) | null;
  deliveryId: string;
  attemptNumber: number;
  /** Unix seconds of this attempt: `webhook-timestamp`, `attempt.timestampS` and the signature's t. */
  timestamp: number;
  /** The exact body bytes sent. */
  body: string;
  /** Signing secrets, newest first (empty for an unsigned profile). */
  secrets: readonly string[];
  customHeaders: readonly { name: string; value: string }[];
  authHeaders: Readonly<Record<string, string>>;
  userAgent: string;
  /** Show each signature as `[redacted]` instead of computing it (previews). */
  redactSignatures?: boolean;
}

export interface RenderedHeaders {
  headers: Record<string, string>;
  /** The same headers as an attempt log keeps them: auth and signature `[redacted]`. */
  logged: Record<string, string>;
}

/**
 * A failure of a profile for one event or attempt (an expression failed or gave something that
 * cannot be sent): that delivery fails with error TRANSFORM. `field` names the definition's part.
 */
export class TransformError extends Error {
  readonly field: string;
  /** The message without the field. */
  readonly reason: string;

  constructor(field: string, reason: string) {
    super(`${field}: ${reason}`);
    this.name = 'TransformError';
    this.field = field;
    this.reason = reason;
  }
}

/**
 * A profile version with its expressions compiled: made once per version and reused for every
 * event and attempt. Throws `ExpressionError` (with the field, e.g. `headers.X-Event`) when an
 * expression does not compile.
 */
export class CompiledProfile {
  readonly version: ProfileVersion;
  private readonly body: CompiledExpression | null;
  /** Header name as sent (lowercase), its field in the definition, its expression. */
  private readonly headers: [name: string, field: string, expression: CompiledExpression][];

  /** `timeoutMs` bounds each evaluation (default EVALUATION_TIMEOUT_MS; a definition on trial gets TRIAL_TIMEOUT_MS). */
  constructor(version: ProfileVersion, options: { timeoutMs?: number } = {}) {
    this.version = version;
    const { definition } = version;
    const compile = (field: string, source: string, body: boolean) => {
      try {
        return compileExpression(source, { body, timeoutMs: options.timeoutMs });
      } catch (error) {
        throw new ExpressionError((error as Error).message, field);
      }
    };
    this.body = definition.body === undefined ? null : compile('body', definition.body, true);
    this.headers = Object.entries(definition.headers).map(([name, source]) => [
      name.toLowerCase(),
      `headers.${name}`,
      compile(`headers.${name}`, source, false),
    ]);
  }

  /** Whether the body is Herald's envelope (no `body` expression): the caller has it already. */
  get sendsEnvelope(): boolean {
    return this.body === null;
  }

  /**
   * The body of an event under this profile as compact JSON, or null for Herald's envelope.
   * Throws `TransformError` when the expression fails or selects nothing.
   */
  async renderBody(input: ExpressionInput): Promise<string | null> {
    if (!this.body) return null;
    const value = await evaluate(this.body, input, 'body');
    if (value === undefined) throw new TransformError('body', 'the expression selected nothing');
    const body = JSON.stringify(value);
    if (body === undefined) throw new TransformError('body', 'the expression gave a function, not JSON');
    if (Buffer.byteLength(body) > MAX_RENDERED_BODY_BYTES) {
      throw new TransformError('body', `over ${MAX_RENDERED_BODY_BYTES / 1024} KiB`);
    }
    return body;
  }

  /** Whether header expressions read the event (`AttemptFields.event`); false for the built-ins. */
  get readsEvent(): boolean {
    return this.headers.length > 0;
  }

  /**
   * The headers of one attempt, in the order they are sent: the webhook's custom headers, its
   * auth, Herald's own, the profile's, then the signature. Later ones win, except that the
   * webhook's auth header is never replaced; a profile cannot name Herald's own headers. Throws
   * (or rejects with) `TransformError` when a header expression fails or gives something other
   * than text, or the signature cannot be made. Synchronous when the profile has no header
   * expressions (the built-ins: no promise on the worker's hot path), a promise otherwise.
   */
  renderHeaders(attempt: AttemptFields): RenderedHeaders | Promise<RenderedHeaders> {
    const headers: Record<string, string> = {};
    for (const { name, value } of attempt.customHeaders) headers[name.toLowerCase()] = value;
    Object.assign(headers, attempt.authHeaders);
    headers['content-type'] = 'application/json';
    headers['user-agent'] = attempt.userAgent;
    if (this.version.definition.heraldHeaders) {
      headers['webhook-id'] = attempt.eventId;
      headers['webhook-timestamp'] = String(attempt.timestamp);
      headers['herald-event-type'] = attempt.eventType;
      headers['herald-delivery-id'] = attempt.deliveryId;
      headers['herald-attempt'] = String(attempt.attemptNumber);
    }
    if (this.headers.length === 0) return this.signed(attempt, headers);
    return this.withExpressions(attempt, headers);
  }

  private async withExpressions(attempt: AttemptFields, headers: Record<string, string>): Promise<RenderedHeaders> {
    if (!attempt.event) throw new Error(`profile ${this.version.name} reads the event, but the attempt did not give it`);
    const input = Object.assign(attempt.event(), {
      delivery: { id: attempt.deliveryId },
      attempt: { number: attempt.attemptNumber, timestampS: attempt.timestamp },
    });
    for (const [name, field, expression] of this.headers) {
      const value = headerValue(field, await evaluate(expression, input, field));
      // The webhook's own auth header wins over a profile header of the same name.
      if (value !== undefined && !(name in attempt.authHeaders)) headers[name] = value;
    }
    return this.signed(attempt, headers);
  }

  /** Adds the signature header, and makes the logged copy (auth and signature redacted). */
  private signed(attempt: AttemptFields, headers: Record<string, string>): RenderedHeaders {
    const { signature } = this.version.definition;
    const logged = { ...headers };
    for (const name in attempt.authHeaders) logged[name] = REDACTED;
    if (signature) {
      const name = signature.header.toLowerCase();
      try {
        headers[name] = profileSignature(signature, {
          secrets: attempt.secrets,
          msgId: attempt.eventId,
          timestamp: attempt.timestamp,
          body: attempt.body,
          redact: attempt.redactSignatures,
        });
      } catch (error) {
        throw new TransformError('signature', (error as Error).message);
      }
      logged[name] = REDACTED;
    }
    return { headers, logged };
  }
}

async function evaluate(expression: CompiledExpression, input: object, field: string): Promise<unknown> {
  try {
    return await expression.evaluate(input);
  } catch (error) {
    throw new TransformError(field, (error as Error).message);
  }
}

/** A header expression's value as header text; undefined (nothing selected) leaves the header out. */
function headerValue(field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
    throw new TransformError(field, `gave ${Array.isArray(value) ? 'an array' : typeof value}, not text`);
  }
  const text = String(value);
  if (!isFieldValue(text) || text.length > MAX_HEADER_VALUE_LENGTH) {
    throw new TransformError(field, `not a valid header value (${FIELD_VALUE_RULE}, at most ${MAX_HEADER_VALUE_LENGTH} characters)`);
  }
  return text;
}
