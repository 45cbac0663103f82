// The definition of a delivery profile: the wire contract of a delivery (body, headers, signature,
// secret, defaults), validated with zod. Pure: no I/O. README "Delivery profiles" documents it.
import { z } from 'zod';
import { HEADER_NAME, HTTP_MANAGED_HEADERS } from '../http-fields.ts';

/** A profile's name: lowercase letters, digits, `.`, `_` and `-`, at most 64 characters (`zautic`, `hub-z-api`). */
export const PROFILE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Headers only Herald may set: those HTTP itself manages, Herald's own (`webhook-*`, `herald-*`,
 * its user agent and content type) and those of a webhook's outbound auth.
 */
const OWNED_HEADERS = new Set([...HTTP_MANAGED_HEADERS, 'content-type', 'user-agent', 'authorization', 'x-api-key']);

/** Whether a header name (any case) belongs to Herald and may not be set by a profile. */
export function isOwnedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return OWNED_HEADERS.has(lower) || lower.startsWith('webhook-') || lower.startsWith('herald-') || lower.startsWith('proxy-');
}

/** Longest JSONata expression accepted, in characters. */
export const MAX_EXPRESSION_LENGTH = 10_000;
const MAX_PROFILE_HEADERS = 20;

const expression = z.string().min(1, 'must not be empty').max(MAX_EXPRESSION_LENGTH, `must be at most ${MAX_EXPRESSION_LENGTH} characters`);

const headerName = z
  .string()
  .regex(HEADER_NAME, 'must be an HTTP header name')
  .refine((name) => !isOwnedHeader(name), { message: 'is a header Herald sets itself' });

/** What the HMAC covers: `{t}` is the attempt's unix seconds, `{id}` the event id (`webhook-id`). */
export const SIGNED_CONTENTS = ['BODY', 'TIMESTAMP_DOT_BODY', 'ID_DOT_TIMESTAMP_DOT_BODY'] as const;
/** The HMAC key made from a secret string. */
export const SIGNING_KEYS = ['WHSEC_DECODED', 'SECRET_BYTES', 'HEX_DECODED'] as const;
export const SIGNATURE_ENCODINGS = ['HEX', 'BASE64'] as const;
/**
 * How signatures are written in the header. The two list formats carry one signature per live
 * secret during a rotation; the single-value ones carry the newest secret's only.
 */
export const SIGNATURE_FORMATS = ['v1,{sig}', 't={t},v1={sig}', 'sha256={sig}', '{sig}'] as const;
/** Generated secrets: `whsec_` + base64 of 32 bytes; 64 hex characters; 43 base64url characters. */
export const SECRET_FORMATS = ['WHSEC', 'HEX', 'TOKEN'] as const;
export const SECRET_SCOPES = ['WEBHOOK', 'TENANT'] as const;

export type SignedContent = (typeof SIGNED_CONTENTS)[number];
export type SigningKey = (typeof SIGNING_KEYS)[number];
export type SignatureEncoding = (typeof SIGNATURE_ENCODINGS)[number];
export type SignatureFormat = (typeof SIGNATURE_FORMATS)[number];
export type SecretFormat = (typeof SECRET_FORMATS)[number];
export type SecretScope = (typeof SECRET_SCOPES)[number];

const signature = z
  .strictObject(
    {
      header: headerName.describe('The header that carries the signature, e.g. "X-Zautic-Signature".'),
      signs: z
        .enum(SIGNED_CONTENTS)
        .describe(
          'What is signed: the raw body; "{t}.{body}" with t the attempt\'s unix seconds; or "{id}.{t}.{body}" with id the event id (Standard Webhooks).',
        ),
      key: z
        .enum(SIGNING_KEYS)
        .describe(
          'The HMAC key: the base64 after "whsec_" decoded (secret format WHSEC), the secret string\'s UTF-8 bytes, or the secret\'s hex decoded (secret format HEX).',
        ),
      encoding: z.enum(SIGNATURE_ENCODINGS).describe('How the HMAC-SHA256 digest is written: lowercase hex or base64.'),
      format: z
        .enum(SIGNATURE_FORMATS)
        .describe(
          'The header value. "v1,{sig}": space-separated, one per live secret; "t={t},v1={sig}": t then one v1 per live secret; "sha256={sig}" and "{sig}": the newest secret only.',
        ),
    },
    {
      // Left out, zod would say "expected object, received undefined" without saying that null
      // (unsigned) is the other choice.
      error: (issue) =>
        issue.code === 'invalid_type'
          ? issue.input === undefined
            ? 'signature is required (null for unsigned deliveries)'
            : 'expected an object, or null for unsigned deliveries'
          : undefined,
    },
  )
  .describe('HMAC-SHA256 signature of each attempt.');

const secret = z
  .strictObject({
    format: z
      .enum(SECRET_FORMATS)
      .default('WHSEC')
      .describe(
        'Generated secrets, and the form an imported one must have: WHSEC = "whsec_" + base64 of 32 bytes (24 to 64 when imported); HEX = 64 hexadecimal characters; TOKEN = 43 base64url characters (16 to 256 visible ASCII characters when imported).',
      ),
    scope: z
      .enum(SECRET_SCOPES)
      .default('WEBHOOK')
      .describe("WEBHOOK: each webhook has its own secret. TENANT: one secret signs all of a tenant's webhooks under this profile."),
  })
  .describe('The signing secret.');

const defaults = z
  .strictObject({
    retrySchedule: z
      .array(
        z
          .int()
          .min(1)
          .max(7 * 24 * 3600),
      )
      .max(20)
      .optional()
      .describe('Seconds between attempts for webhooks created under this profile without their own; [] means a single attempt.'),
    timeoutMs: z
      .int()
      .min(1000)
      .max(30000)
      .optional()
      .describe('Request timeout for webhooks created under this profile without their own.'),
  })
  .describe('Settings given to webhooks created under this profile, unless the webhook sets them.');

/** The definition as stored and returned: defaults filled in. */
export const profileDefinitionSchema = z
  .strictObject({
    body: expression
      .optional()
      .describe(
        "JSONata expression over the event, evaluated once at publish time; its value is sent as compact JSON. Omitted: Herald's envelope {id,type,timestamp,tenantId,channel,data}. $now(), $millis() and $random() are refused.",
      ),
    headers: z
      .record(headerName, expression)
      .default({})
      .refine((h) => Object.keys(h).length <= MAX_PROFILE_HEADERS, { message: `at most ${MAX_PROFILE_HEADERS} headers` })
      .describe(
        'Header name → JSONata expression over the event plus delivery { id } and attempt { number timestampS }, evaluated per attempt.',
      ),
    heraldHeaders: z
      .boolean()
      .default(true)
      .describe('Also send webhook-id, webhook-timestamp, herald-event-type, herald-delivery-id and herald-attempt.'),
    signature: signature.nullable().describe('null: deliveries are not signed.'),
    secret: secret.default({ format: 'WHSEC', scope: 'WEBHOOK' }),
    defaults: defaults.default({}),
  })
  .superRefine((d, ctx) => {
    const names = new Set<string>();
    for (const name of Object.keys(d.headers)) {
      const lower = name.toLowerCase();
      if (names.has(lower)) ctx.addIssue({ code: 'custom', path: ['headers', name], message: 'appears twice (header names ignore case)' });
      names.add(lower);
    }
    if (!d.signature) return;
    const clash = Object.keys(d.headers).find((name) => name.toLowerCase() === d.signature?.header.toLowerCase());
    if (clash) ctx.addIssue({ code: 'custom', path: ['headers', clash], message: 'is the signature header' });
    if (d.signature.key === 'WHSEC_DECODED' && d.secret.format !== 'WHSEC') {
      ctx.addIssue({ code: 'custom', path: ['signature', 'key'], message: 'WHSEC_DECODED needs secret.format WHSEC' });
    }
    if (d.signature.key === 'HEX_DECODED' && d.secret.format !== 'HEX') {
      ctx.addIssue({ code: 'custom', path: ['signature', 'key'], message: 'HEX_DECODED needs secret.format HEX' });
    }
  });

/** A definition with its defaults filled in. */
export type ProfileDefinition = z.output<typeof profileDefinitionSchema>;
/** A definition as written (what `upsertDeliveryProfile` accepts). */
export type ProfileDefinitionInput = z.input<typeof profileDefinitionSchema>;
export type SignatureSpec = NonNullable<ProfileDefinition['signature']>;

/**
 * Checks a definition's shape and options (not its expressions: see `compileProfile`).
 * Returns the definition with defaults filled in, or one error per bad field (`body`,
 * `signature.key`, `headers.content-length`, …).
 */
export function parseDefinition(value: unknown): { definition: ProfileDefinition } | { errors: { field: string; message: string }[] } {
  const parsed = profileDefinitionSchema.safeParse(value);
  if (parsed.success) return { definition: parsed.data };
  return {
    errors: parsed.error.issues.map((issue) => ({
      // An unknown option names itself: `signature.algo`, not `signature`.
      field: [...issue.path, ...(issue.code === 'unrecognized_keys' ? [issue.keys.join(', ')] : [])].map(String).join('.'),
      // A bad header name says why, not zod's "Invalid key in record".
      message: issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message,
    })),
  };
}

/** The JSON Schema of a definition as written (`npm run profile-schema`). */
export function profileJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(profileDefinitionSchema, { io: 'input', target: 'draft-2020-12' }) as Record<string, unknown>;
}
