// Herald's attempt headers before delivery profiles: buildAttemptHeaders as src/delivery/request.ts
// had it at eb9093d, kept verbatim (only import paths changed) as the reference the built-in
// profiles must match byte for byte (test/core/profiles/builtins.test.ts).
import { type SignatureScheme, signatureHeaders } from '../../src/core/signing.ts';
import type { CustomHeader } from '../../src/entities/Webhook.ts';
import { VERSION } from '../../src/version.ts';

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
