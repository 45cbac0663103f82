import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { verifyWebhook } from '../../src/core/verify.ts';
import { createWebhook, deliveryOf, publish, waitForDelivery, waitUntil } from '../helpers/deliveries.ts';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { ReceivedRequest, Receiver } from '../helpers/receiver.ts';
import { createTestCa } from '../helpers/tls.ts';

const ca = createTestCa();
const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
const stripe = new Stripe('sk_test_x');

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver({ env: { HERALD_ALLOW_HTTP: 'false' }, receiver: { tls: ca }, ca: ca.caPem }));
});
afterAll(() => stopAll(h, receiver));

/** Verifiers that throw unless the request is signed with `secret`. */
const verifiers = {
  standardwebhooks: (secret: string, r: ReceivedRequest) => new StandardWebhook(secret).verify(r.body, headers(r)),
  svix: (secret: string, r: ReceivedRequest) => new SvixWebhook(secret).verify(r.body, headers(r)),
  stripe: (secret: string, r: ReceivedRequest) => stripe.webhooks.constructEvent(r.body, String(r.headers['herald-signature']), secret),
  hmac: (secret: string, r: ReceivedRequest) => {
    const expected = `sha256=${createHmac('sha256', secret).update(r.body).digest('hex')}`;
    if (r.headers['x-herald-signature'] !== expected) throw new Error('HMAC mismatch');
  },
};

const SCHEMES = { STANDARD: ['standardwebhooks', 'svix'], STRIPE: ['stripe'], HMAC_SHA256: ['hmac'] } as const;
type Scheme = keyof typeof SCHEMES;

function headers(r: ReceivedRequest): Record<string, string> {
  return Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : String(v)]));
}

/** Creates one webhook per scheme on its own path; returns id and secret per scheme. */
async function webhookPerScheme(prefix: string) {
  const hooks = {} as Record<Scheme, { id: string; secret: string; path: string }>;
  for (const scheme of Object.keys(SCHEMES) as Scheme[]) {
    const path = `/${prefix}/${scheme.toLowerCase()}`;
    hooks[scheme] = { ...(await createWebhook(h, tenant.key, { url: `${receiver.url}${path}`, signatureScheme: scheme })), path };
  }
  return hooks;
}

/** Publishes one event and returns the request each path received for it. */
async function publishAndReceive(hooks: Record<Scheme, { path: string }>, data: unknown) {
  const { eventId, deliveryCount } = await publish(h, tenant.key, { type: 'message.inbound', channel: 'whatsapp', data });
  const byPath = (path: string) => receiver.requests.find((r) => r.url === path && r.headers['webhook-id'] === eventId);
  await waitUntil(() => Object.values(hooks).every((hook) => byPath(hook.path)), { message: 'a request on every path' });
  return { eventId, deliveryCount, request: (scheme: Scheme) => byPath(hooks[scheme].path)! };
}

describe('a delivery of each scheme', () => {
  let hooks: Awaited<ReturnType<typeof webhookPerScheme>>;
  let got: Awaited<ReturnType<typeof publishAndReceive>>;
  // Non-ASCII and characters JSON may escape differently: the bytes must be signed as sent.
  const data = { messageId: 'm-42', text: 'Grüße 👋 <b>&</b> "quoted" \u2028', nested: { n: 1.5, list: [true, null] } };

  beforeAll(async () => {
    hooks = await webhookPerScheme('schemes');
    got = await publishAndReceive(hooks, data);
  });

  test('fan-out: one delivery per scheme webhook', () => {
    expect(got.deliveryCount).toBe(3);
  });

  const pairs = Object.entries(SCHEMES).flatMap(([scheme, libs]) => libs.map((lib) => [scheme, lib])) as [Scheme, keyof typeof verifiers][];
  test.each(pairs)('%s verifies with %s', (scheme, lib) => {
    expect(() => verifiers[lib](hooks[scheme].secret, got.request(scheme))).not.toThrow();
  });

  test.each(Object.keys(SCHEMES) as Scheme[])(
    '%s verifies with Herald’s own verifyWebhook, and not with a wrong secret or body',
    (scheme) => {
      const r = got.request(scheme);
      const parsed = verifyWebhook({ secret: hooks[scheme].secret, headers: r.headers, body: r.body, scheme });
      expect(parsed).toMatchObject({ id: got.eventId, data });
      const other = hooks[scheme === 'STANDARD' ? 'STRIPE' : 'STANDARD'].secret;
      expect(() => verifyWebhook({ secret: other, headers: r.headers, body: r.body, scheme })).toThrow();
      expect(() =>
        verifyWebhook({ secret: hooks[scheme].secret, headers: r.headers, body: r.body.replace('m-42', 'm-43'), scheme }),
      ).toThrow();
    },
  );

  test('library verification fails for a tampered body (the check is real)', () => {
    const r = got.request('STANDARD');
    const tampered = { ...r, body: r.body.replace('m-42', 'm-43') };
    expect(() => verifiers.standardwebhooks(hooks.STANDARD.secret, tampered)).toThrow();
    expect(() => verifiers.svix(hooks.STANDARD.secret, tampered)).toThrow();
    const s = got.request('STRIPE');
    expect(() => verifiers.stripe(hooks.STRIPE.secret, { ...s, body: s.body.replace('m-42', 'm-43') })).toThrow();
  });

  test('the body is byte for byte {"id","type","timestamp","tenantId","channel","data"}', async () => {
    const { event } = await h.ok(`query($id: ID!) { event(id: $id) { createdAt } }`, { id: got.eventId }, tenant.key);
    const expected = JSON.stringify({
      id: got.eventId,
      type: 'message.inbound',
      timestamp: new Date(event.createdAt).toISOString(),
      tenantId: tenant.id,
      channel: 'whatsapp',
      data,
    });
    for (const scheme of Object.keys(SCHEMES) as Scheme[]) expect(got.request(scheme).body, scheme).toBe(expected);
  });

  test('headers: webhook-id, webhook-timestamp, herald-*, user-agent, content-type, the scheme’s signature only', async () => {
    for (const scheme of Object.keys(SCHEMES) as Scheme[]) {
      const r = got.request(scheme);
      const delivery = await deliveryOf(h, tenant.key, got.eventId, hooks[scheme].id);
      expect(r.method).toBe('POST');
      expect(r.headers).toMatchObject({
        'content-type': 'application/json',
        'user-agent': `Herald/${version}`,
        'webhook-id': got.eventId,
        'herald-event-type': 'message.inbound',
        'herald-delivery-id': delivery.id,
        'herald-attempt': '1',
      });
      const timestamp = Number(r.headers['webhook-timestamp']);
      expect(Math.abs(timestamp - r.receivedAt.getTime() / 1000)).toBeLessThan(5);
      const signatureHeaders = ['webhook-signature', 'herald-signature', 'x-herald-signature'].filter((name) => name in r.headers);
      expect(signatureHeaders, scheme).toEqual([
        { STANDARD: 'webhook-signature', STRIPE: 'herald-signature', HMAC_SHA256: 'x-herald-signature' }[scheme],
      ]);
    }
    expect(got.request('STANDARD').headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(got.request('STRIPE').headers['herald-signature']).toBe(
      `t=${got.request('STRIPE').headers['webhook-timestamp']},v1=${createHmac('sha256', hooks.STRIPE.secret)
        .update(`${got.request('STRIPE').headers['webhook-timestamp']}.${got.request('STRIPE').body}`)
        .digest('hex')}`,
    );
    expect(got.request('HMAC_SHA256').headers['x-herald-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
  });

  test('the recorded delivery succeeded with the 200 the receiver gave', async () => {
    for (const scheme of Object.keys(SCHEMES) as Scheme[]) {
      const { id } = await deliveryOf(h, tenant.key, got.eventId, hooks[scheme].id);
      expect(await waitForDelivery(h, tenant.key, id)).toMatchObject({ status: 'SUCCEEDED', lastResponseStatus: 200, attemptCount: 1 });
    }
  });
});

describe('secret rotation', () => {
  async function rotate(id: string, graceSeconds?: number) {
    const data = await h.ok(
      'mutation($id: ID!, $grace: Int) { rotateWebhookSecret(id: $id, graceSeconds: $grace) { secret webhook { secretCount } } }',
      { id, grace: graceSeconds },
      tenant.key,
    );
    return data.rotateWebhookSecret as { secret: string; webhook: { secretCount: number } };
  }

  test('during the grace period both the new and the old secret verify; after a rotation with graceSeconds 0 only the new one', async () => {
    const hooks = await webhookPerScheme('rotation');
    const first = Object.fromEntries(Object.entries(hooks).map(([scheme, hook]) => [scheme, hook.secret])) as Record<Scheme, string>;

    // Rotation with the default grace period (24 h): old and new both sign.
    const second = {} as Record<Scheme, string>;
    for (const scheme of Object.keys(SCHEMES) as Scheme[]) {
      const rotated = await rotate(hooks[scheme].id);
      expect(rotated.webhook.secretCount).toBe(2);
      second[scheme] = rotated.secret;
      expect(second[scheme]).not.toBe(first[scheme]);
    }
    const during = await publishAndReceive(hooks, { step: 'grace' });
    for (const scheme of ['STANDARD', 'STRIPE'] as const) {
      const r = during.request(scheme);
      for (const lib of SCHEMES[scheme]) {
        expect(() => verifiers[lib](second[scheme], r), `${lib} new`).not.toThrow();
        expect(() => verifiers[lib](first[scheme], r), `${lib} old`).not.toThrow();
      }
      expect(() => verifyWebhook({ secret: second[scheme], headers: r.headers, body: r.body, scheme })).not.toThrow();
      expect(() => verifyWebhook({ secret: first[scheme], headers: r.headers, body: r.body, scheme })).not.toThrow();
    }
    expect(during.request('STANDARD').headers['webhook-signature']).toMatch(/^v1,\S+ v1,\S+$/);
    expect(during.request('STRIPE').headers['herald-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64},v1=[0-9a-f]{64}$/);
    // HMAC_SHA256 has room for one signature: the newest secret's (DESIGN.md).
    expect(() => verifiers.hmac(second.HMAC_SHA256, during.request('HMAC_SHA256'))).not.toThrow();
    expect(() => verifiers.hmac(first.HMAC_SHA256, during.request('HMAC_SHA256'))).toThrow();

    // Rotation without grace: only the newest secret signs; both earlier ones stop verifying.
    const third = {} as Record<Scheme, string>;
    for (const scheme of Object.keys(SCHEMES) as Scheme[]) {
      const rotated = await rotate(hooks[scheme].id, 0);
      expect(rotated.webhook.secretCount).toBe(1);
      third[scheme] = rotated.secret;
    }
    const after = await publishAndReceive(hooks, { step: 'after' });
    for (const scheme of Object.keys(SCHEMES) as Scheme[]) {
      const r = after.request(scheme);
      for (const lib of SCHEMES[scheme]) {
        expect(() => verifiers[lib](third[scheme], r), `${lib} newest`).not.toThrow();
        expect(() => verifiers[lib](second[scheme], r), `${lib} previous`).toThrow();
        expect(() => verifiers[lib](first[scheme], r), `${lib} first`).toThrow();
      }
      expect(() => verifyWebhook({ secret: third[scheme], headers: r.headers, body: r.body, scheme })).not.toThrow();
      expect(() => verifyWebhook({ secret: second[scheme], headers: r.headers, body: r.body, scheme })).toThrow();
    }
  });
});
