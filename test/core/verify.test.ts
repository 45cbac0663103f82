import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from '../../src/core/secrets.ts';
import { signatureHeaders } from '../../src/core/signing.ts';
import type { SignatureScheme } from '../../src/core/verify.ts';
import { verifyWebhook, WebhookVerificationError } from '../../src/core/verify.ts';

const msgId = 'evt_01verify';
const payload = { id: msgId, type: 'message.inbound', data: { text: 'hi ✓' } };
const body = JSON.stringify(payload);
const now = new Date('2026-11-22T10:00:00.000Z');
const nowSeconds = Math.floor(now.getTime() / 1000);
const schemes: SignatureScheme[] = ['STANDARD', 'STRIPE', 'HMAC_SHA256'];

/** The headers Herald sends for one attempt, as the worker builds them. */
function deliveryHeaders(scheme: SignatureScheme, secrets: string[], timestamp = nowSeconds, signedBody = body): Record<string, string> {
  return {
    'content-type': 'application/json',
    'webhook-id': msgId,
    'webhook-timestamp': String(timestamp),
    ...signatureHeaders({ scheme, secrets, msgId, timestamp, body: signedBody }),
  };
}

function verificationError(fn: () => unknown): WebhookVerificationError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(WebhookVerificationError);
    expect((error as Error).name).toBe('WebhookVerificationError');
    return error as WebhookVerificationError;
  }
  throw new Error('expected a WebhookVerificationError');
}

describe.each(schemes)('verifyWebhook with %s', (scheme) => {
  const secret = generateWebhookSecret();

  it('returns the parsed body of a genuine delivery', () => {
    const headers = deliveryHeaders(scheme, [secret]);
    expect(verifyWebhook({ secret, headers, body, scheme, now })).toEqual(payload);
  });

  it('accepts the body as a Buffer and the headers as a Headers instance', () => {
    const headers = new Headers(deliveryHeaders(scheme, [secret]));
    expect(verifyWebhook({ secret, headers, body: Buffer.from(body), scheme, now })).toEqual(payload);
  });

  it('looks headers up case-insensitively in a plain object', () => {
    const upper = Object.fromEntries(Object.entries(deliveryHeaders(scheme, [secret])).map(([k, v]) => [k.toUpperCase(), v]));
    expect(verifyWebhook({ secret, headers: upper, body, scheme, now })).toEqual(payload);
  });

  it('rejects a tampered body', () => {
    const headers = deliveryHeaders(scheme, [secret]);
    const error = verificationError(() => verifyWebhook({ secret, headers, body: body.replace('hi', 'ho'), scheme, now }));
    expect(error.message).toMatch(/signature/i);
  });

  it('rejects the wrong secret', () => {
    const headers = deliveryHeaders(scheme, [secret]);
    verificationError(() => verifyWebhook({ secret: generateWebhookSecret(), headers, body, scheme, now }));
  });

  it('rejects a stale timestamp', () => {
    const headers = deliveryHeaders(scheme, [secret], nowSeconds - 301);
    const error = verificationError(() => verifyWebhook({ secret, headers, body, scheme, now }));
    expect(error.message).toMatch(/too old/);
  });

  it('rejects a timestamp from the future', () => {
    const headers = deliveryHeaders(scheme, [secret], nowSeconds + 301);
    const error = verificationError(() => verifyWebhook({ secret, headers, body, scheme, now }));
    expect(error.message).toMatch(/too new/);
  });

  it('accepts a timestamp at the edge of a custom tolerance', () => {
    const headers = deliveryHeaders(scheme, [secret], nowSeconds - 60);
    expect(verifyWebhook({ secret, headers, body, scheme, now, toleranceSeconds: 60 })).toEqual(payload);
    verificationError(() => verifyWebhook({ secret, headers, body, scheme, now, toleranceSeconds: 59 }));
  });

  it('names the missing signature header', () => {
    const headers = deliveryHeaders(scheme, [secret]);
    const signatureHeader = Object.keys(
      signatureHeaders({
        scheme,
        secrets: [secret],
        msgId,
        timestamp: nowSeconds,
        body,
      }),
    )[0];
    delete headers[signatureHeader];
    const error = verificationError(() => verifyWebhook({ secret, headers, body, scheme, now }));
    expect(error.message).toContain(signatureHeader);
  });
});

describe('verifyWebhook details', () => {
  const secret = generateWebhookSecret();

  it('defaults to STANDARD and the current time', () => {
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = deliveryHeaders('STANDARD', [secret], timestamp);
    expect(verifyWebhook({ secret, headers, body })).toEqual(payload);
  });

  it('accepts any of several signatures (rotation), for STANDARD and STRIPE', () => {
    const oldSecret = generateWebhookSecret();
    for (const scheme of ['STANDARD', 'STRIPE'] as const) {
      const headers = deliveryHeaders(scheme, [secret, oldSecret]);
      for (const s of [secret, oldSecret]) {
        expect(verifyWebhook({ secret: s, headers, body, scheme, now })).toEqual(payload);
      }
      verificationError(() => verifyWebhook({ secret: generateWebhookSecret(), headers, body, scheme, now }));
    }
  });

  it('requires webhook-id for STANDARD, since it is signed', () => {
    const headers = deliveryHeaders('STANDARD', [secret]);
    delete headers['webhook-id'];
    const error = verificationError(() => verifyWebhook({ secret, headers, body, now }));
    expect(error.message).toContain('webhook-id');
  });

  it('rejects a STANDARD message whose id was changed', () => {
    const headers = { ...deliveryHeaders('STANDARD', [secret]), 'webhook-id': 'evt_other' };
    verificationError(() => verifyWebhook({ secret, headers, body, now }));
  });

  it('uses t= for STRIPE, not webhook-timestamp', () => {
    const headers = deliveryHeaders('STRIPE', [secret], nowSeconds - 1000);
    headers['webhook-timestamp'] = String(nowSeconds);
    const error = verificationError(() => verifyWebhook({ secret, headers, body, scheme: 'STRIPE', now }));
    expect(error.message).toMatch(/too old/);
  });

  it('rejects a STRIPE header whose t= was moved forward', () => {
    const headers = deliveryHeaders('STRIPE', [secret], nowSeconds - 1000);
    headers['herald-signature'] = headers['herald-signature'].replace(`t=${nowSeconds - 1000}`, `t=${nowSeconds}`);
    verificationError(() => verifyWebhook({ secret, headers, body, scheme: 'STRIPE', now }));
  });

  it('accepts HMAC_SHA256 without webhook-timestamp', () => {
    const headers = deliveryHeaders('HMAC_SHA256', [secret]);
    delete headers['webhook-timestamp'];
    expect(verifyWebhook({ secret, headers, body, scheme: 'HMAC_SHA256', now })).toEqual(payload);
  });

  it('rejects a malformed timestamp', () => {
    const headers = { ...deliveryHeaders('STANDARD', [secret]), 'webhook-timestamp': '12abc' };
    const error = verificationError(() => verifyWebhook({ secret, headers, body, now }));
    expect(error.message).toMatch(/Invalid timestamp/);
  });

  it('rejects a correctly signed body that is not JSON', () => {
    const text = 'not json';
    const headers = deliveryHeaders('HMAC_SHA256', [secret], nowSeconds, text);
    const error = verificationError(() => verifyWebhook({ secret, headers, body: text, scheme: 'HMAC_SHA256', now }));
    expect(error.message).toMatch(/JSON/);
  });

  it('accepts Node-style array header values', () => {
    const headers: Record<string, string | string[]> = deliveryHeaders('STANDARD', [secret]);
    headers['webhook-signature'] = [headers['webhook-signature'] as string];
    expect(verifyWebhook({ secret, headers, body, now })).toEqual(payload);
  });
});
