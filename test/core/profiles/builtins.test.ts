// The three built-in profiles render byte for byte what Herald sent before profiles existed:
// the same body (buildPayload) and the same headers, in the same order, as buildAttemptHeaders
// (kept verbatim in test/helpers/legacy-request.ts) with signing.ts's signatureHeaders, for the
// same input.
import { describe, expect, test } from 'vitest';
import { buildPayload } from '../../../src/core/payload.ts';
import { BUILT_IN_PROFILES, compiledBuiltIn } from '../../../src/core/profiles/builtins.ts';
import { envelopeInput, eventInput } from '../../../src/core/profiles/render.ts';
import { generateWebhookSecret } from '../../../src/core/secrets.ts';
import { VERSION } from '../../../src/version.ts';
import { buildAttemptHeaders } from '../../helpers/legacy-request.ts';

const tenant = { id: 'ten_01m8n514tne8nj2agspx49ygs5', name: 'acme', externalId: null };
const event = {
  id: 'evt_01m8n514tne8nj2agspx49ygs5',
  type: 'message.inbound',
  channel: 'whatsapp',
  createdAt: new Date('2026-11-22T10:00:00.123Z'),
  // Characters JSON may escape differently: the bytes must be signed as sent.
  data: { messageId: 'm-42', text: 'Grüße 👋 <b>&</b> "quoted" \u2028', nested: { n: 1.5, list: [true, null] } },
  tenant,
};
const payload = buildPayload({ ...event, tenantId: tenant.id });
const now = new Date('2026-11-22T10:00:07.900Z');

const cases = BUILT_IN_PROFILES.flatMap((profile) =>
  [1, 2].map((secretCount) => ({ profile, secretCount, secrets: Array.from({ length: secretCount }, generateWebhookSecret) })),
);

describe.each(cases)('built-in profile $profile.name with $secretCount secret(s)', ({ profile, secrets }) => {
  const compiled = compiledBuiltIn(profile.name)!;
  const customHeaders = [{ name: 'X-Customer', value: 'c-1' }];
  const authHeaders = { authorization: 'Bearer tok' };
  const before = buildAttemptHeaders({
    eventId: event.id,
    eventType: event.type,
    deliveryId: 'dlv_1',
    attemptNumber: 3,
    payload,
    scheme: profile.scheme,
    secrets,
    customHeaders,
    authHeaders,
    now,
  });
  const attempt = (input = () => eventInput(event)) =>
    compiled.renderHeaders({
      eventId: event.id,
      eventType: event.type,
      event: input,
      deliveryId: 'dlv_1',
      attemptNumber: 3,
      timestamp: Math.floor(now.getTime() / 1000),
      body: payload,
      secrets,
      customHeaders,
      authHeaders,
      userAgent: `Herald/${VERSION}`,
    });

  test('the body is Herald’s envelope, as buildPayload makes it', async () => {
    expect(compiled.sendsEnvelope).toBe(true);
    expect(await compiled.renderBody(eventInput(event))).toBeNull();
  });

  test('the headers and their order are those of buildAttemptHeaders', async () => {
    const rendered = await attempt();
    expect(Object.entries(rendered.headers)).toEqual(Object.entries(before.headers));
    expect(Object.entries(rendered.logged)).toEqual(Object.entries(before.logged));
  });

  test('from the stored envelope too (the worker’s input)', async () => {
    const rendered = await attempt(() => envelopeInput(payload, { id: event.id, type: event.type, tenant }));
    expect(Object.entries(rendered.headers)).toEqual(Object.entries(before.headers));
  });
});
