import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encryptSecret, generateWebhookSecret } from '../../src/core/secrets.ts';
import { SigningCache } from '../../src/delivery/signing-cache.ts';

/**
 * The worker's cache of decrypted signing material: whatever it keeps, each delivery must be
 * signed with exactly the secrets the webhook's stored row says are active at that moment.
 */
const key = randomBytes(32);
const stored = (plain: string, expiresAt: Date | null = null) => ({
  encrypted: encryptSecret(plain, key),
  expiresAt: expiresAt?.toISOString() ?? null,
});

describe('SigningCache', () => {
  it('answers with the decrypted secrets and auth of the stored row', () => {
    const secret = generateWebhookSecret();
    const cache = new SigningCache(key);
    const webhook = {
      id: 'wh_1',
      secrets: [stored(secret)],
      authEncrypted: encryptSecret(JSON.stringify({ type: 'BEARER', token: 't0k' }), key),
    };
    expect(cache.get(webhook)).toEqual({ secrets: [secret], auth: { type: 'BEARER', token: 't0k' } });
    expect(cache.get(webhook)).toEqual({ secrets: [secret], auth: { type: 'BEARER', token: 't0k' } });
    expect(cache.get({ id: 'wh_2', secrets: [stored(secret)] }).auth).toEqual({ type: 'NONE' });
  });

  it('follows a rotation and an auth change at once (new ciphertexts in the row)', () => {
    const cache = new SigningCache(key);
    const [first, second] = [generateWebhookSecret(), generateWebhookSecret()];
    const original = stored(first);
    expect(cache.get({ id: 'wh_1', secrets: [original] }).secrets).toEqual([first]);
    const rotated = { id: 'wh_1', secrets: [stored(second), { ...original, expiresAt: new Date(Date.now() + 60_000).toISOString() }] };
    expect(cache.get(rotated).secrets).toEqual([second, first]);
    const withAuth = { ...rotated, authEncrypted: encryptSecret(JSON.stringify({ type: 'API_KEY', token: 'k' }), key) };
    expect(cache.get(withAuth).auth).toEqual({ type: 'API_KEY', token: 'k' });
  });

  it('drops an old secret when its grace period ends, though the row is unchanged', () => {
    const cache = new SigningCache(key);
    const [current, old] = [generateWebhookSecret(), generateWebhookSecret()];
    const graceEnds = new Date('2026-11-23T12:00:00Z');
    const webhook = { id: 'wh_1', secrets: [stored(current), stored(old, graceEnds)] };
    expect(cache.get(webhook, new Date(graceEnds.getTime() - 1)).secrets).toEqual([current, old]);
    expect(cache.get(webhook, new Date(graceEnds.getTime() + 1)).secrets).toEqual([current]);
  });

  it('never answers for one webhook with another one’s secrets', () => {
    const cache = new SigningCache(key);
    const [a, b] = [generateWebhookSecret(), generateWebhookSecret()];
    expect(cache.get({ id: 'wh_a', secrets: [stored(a)] }).secrets).toEqual([a]);
    expect(cache.get({ id: 'wh_b', secrets: [stored(b)] }).secrets).toEqual([b]);
    expect(cache.get({ id: 'wh_a', secrets: [stored(a)] }).secrets).toEqual([a]);
  });
});
