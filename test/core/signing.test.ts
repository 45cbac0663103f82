import { createHmac } from 'node:crypto';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { Webhook as SvixWebhook } from 'svix';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/core/secrets.ts';
import { SIGNATURE_HEADER_NAMES, signatureHeaders } from '../../src/core/signing.ts';

const stripe = new Stripe('sk_test_x');
const msgId = 'evt_2Qk3nW8sYx';
const body = JSON.stringify({
  id: msgId,
  type: 'message.delivered',
  timestamp: '2026-11-22T10:00:00.000Z',
  tenantId: 'ten_1',
  channel: 'sms',
  data: { to: '+15550100', text: 'héllo ✓' },
});

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function standardHeaders(secrets: string[]): Record<string, string> {
  const timestamp = nowSeconds();
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    ...signatureHeaders({ scheme: 'STANDARD', secrets, msgId, timestamp, body }),
  };
}

describe('STANDARD scheme', () => {
  const secret = generateWebhookSecret();

  it('sets only webhook-signature with one v1 entry per secret', () => {
    const headers = signatureHeaders({
      scheme: 'STANDARD',
      secrets: [secret],
      msgId,
      timestamp: 1_700_000_000,
      body,
    });
    expect(Object.keys(headers)).toEqual(['webhook-signature']);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
  });

  it('verifies with the standardwebhooks library', () => {
    const payload = new StandardWebhook(secret).verify(body, standardHeaders([secret]));
    expect(payload).toEqual(JSON.parse(body));
  });

  it('verifies with the svix library', () => {
    // svix 2.x returns nothing from verify(); success means it did not throw.
    expect(() => new SvixWebhook(secret).verify(body, standardHeaders([secret]))).not.toThrow();
  });

  it('matches the signature the standardwebhooks library computes', () => {
    const timestamp = 1_700_000_000;
    const ours = signatureHeaders({ scheme: 'STANDARD', secrets: [secret], msgId, timestamp, body });
    const theirs = new StandardWebhook(secret).sign(msgId, new Date(timestamp * 1000), body);
    expect(ours['webhook-signature']).toBe(theirs);
  });

  it('fails with both libraries for a tampered body', () => {
    const headers = standardHeaders([secret]);
    const tampered = body.replace('delivered', 'failed');
    expect(() => new StandardWebhook(secret).verify(tampered, headers)).toThrow();
    expect(() => new SvixWebhook(secret).verify(tampered, headers)).toThrow();
  });

  it('during rotation both secrets verify and an unrelated one does not', () => {
    const newSecret = generateWebhookSecret();
    const oldSecret = generateWebhookSecret();
    const headers = standardHeaders([newSecret, oldSecret]);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);

    for (const s of [newSecret, oldSecret]) {
      expect(new StandardWebhook(s).verify(body, headers)).toEqual(JSON.parse(body));
      expect(() => new SvixWebhook(s).verify(body, headers)).not.toThrow();
    }
    const unrelated = generateWebhookSecret();
    expect(() => new StandardWebhook(unrelated).verify(body, headers)).toThrow();
    expect(() => new SvixWebhook(unrelated).verify(body, headers)).toThrow();
  });
});

describe('STRIPE scheme', () => {
  const secret = generateWebhookSecret();

  function stripeHeader(secrets: string[], timestamp = nowSeconds()): string {
    const headers = signatureHeaders({ scheme: 'STRIPE', secrets, msgId, timestamp, body });
    expect(Object.keys(headers)).toEqual(['herald-signature']);
    return headers['herald-signature'];
  }

  it('formats t=<ts>,v1=<lowercase hex>', () => {
    expect(stripeHeader([secret], 1_700_000_000)).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
  });

  it("verifies with Stripe's constructEvent", () => {
    const event = stripe.webhooks.constructEvent(body, stripeHeader([secret]), secret);
    expect(event).toEqual(JSON.parse(body));
  });

  it("fails Stripe's constructEvent for a tampered body", () => {
    const header = stripeHeader([secret]);
    expect(() => stripe.webhooks.constructEvent(body.replace('sms', 'rcs'), header, secret)).toThrow(/No signatures found matching/);
  });

  it('during rotation both secrets verify and an unrelated one does not', () => {
    const newSecret = generateWebhookSecret();
    const oldSecret = generateWebhookSecret();
    const header = stripeHeader([newSecret, oldSecret]);
    expect(header.match(/v1=/g)).toHaveLength(2);

    for (const s of [newSecret, oldSecret]) {
      expect(stripe.webhooks.constructEvent(body, header, s)).toEqual(JSON.parse(body));
    }
    expect(() => stripe.webhooks.constructEvent(body, header, generateWebhookSecret())).toThrow(/No signatures found matching/);
  });
});

describe('HMAC_SHA256 scheme', () => {
  const secret = generateWebhookSecret();

  it('is the hex HMAC of the raw body keyed by the whole secret string', () => {
    const headers = signatureHeaders({
      scheme: 'HMAC_SHA256',
      secrets: [secret],
      msgId,
      timestamp: nowSeconds(),
      body,
    });
    const expected = createHmac('sha256', secret).update(body).digest('hex');
    expect(headers).toEqual({ 'x-herald-signature': `sha256=${expected}` });
  });

  it('signs with the newest secret only during rotation', () => {
    const newSecret = generateWebhookSecret();
    const oldSecret = generateWebhookSecret();
    const headers = signatureHeaders({
      scheme: 'HMAC_SHA256',
      secrets: [newSecret, oldSecret],
      msgId,
      timestamp: nowSeconds(),
      body,
    });
    const withNew = createHmac('sha256', newSecret).update(body).digest('hex');
    expect(headers['x-herald-signature']).toBe(`sha256=${withNew}`);
  });
});

describe('signatureHeaders input checks', () => {
  it('refuses an empty secret list', () => {
    expect(() => signatureHeaders({ scheme: 'STANDARD', secrets: [], msgId, timestamp: 1, body })).toThrow(/secret/);
  });

  it('refuses a fractional timestamp', () => {
    expect(() =>
      signatureHeaders({
        scheme: 'STANDARD',
        secrets: [generateWebhookSecret()],
        msgId,
        timestamp: 1.5,
        body,
      }),
    ).toThrow(/unix seconds/);
  });
});

describe('SIGNATURE_HEADER_NAMES', () => {
  it('lists, in lowercase, every header any scheme sets', () => {
    const secrets = [generateWebhookSecret()];
    for (const scheme of ['STANDARD', 'STRIPE', 'HMAC_SHA256'] as const) {
      const headers = signatureHeaders({ scheme, secrets, msgId, timestamp: nowSeconds(), body });
      for (const name of Object.keys(headers)) {
        expect(SIGNATURE_HEADER_NAMES).toContain(name);
        expect(name).toBe(name.toLowerCase());
      }
    }
  });
});
