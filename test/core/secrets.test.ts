import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  decryptSecret,
  encryptSecret,
  generateAdminKey,
  generateApiKey,
  generateWebhookSecret,
  hashApiKey,
  safeEqual,
  webhookSecretKey,
} from '../../src/core/secrets.ts';

describe('webhook secrets', () => {
  it('are whsec_ + base64 of 32 random bytes', () => {
    const secret = generateWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(webhookSecretKey(secret)).toHaveLength(32);
    expect(generateWebhookSecret()).not.toBe(secret);
  });

  it('decode to the bytes after the prefix', () => {
    const key = randomBytes(32);
    expect(webhookSecretKey(`whsec_${key.toString('base64')}`).equals(key)).toBe(true);
  });

  it('refuse an empty key', () => {
    expect(() => webhookSecretKey('whsec_')).toThrow(/empty/);
  });
});

describe('API keys', () => {
  it('are hrld_ + base64url, with a 12-character prefix and a SHA-256 hash', () => {
    const { secret, prefix, hash } = generateApiKey();
    expect(secret).toMatch(/^hrld_[A-Za-z0-9_-]{43}$/);
    expect(prefix).toBe(secret.slice(0, 12));
    expect(prefix).toHaveLength(12);
    expect(hash).toBe(hashApiKey(secret));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('hash to the known SHA-256 value', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('admin keys are hrld_admin_ + base64url', () => {
    expect(generateAdminKey()).toMatch(/^hrld_admin_[A-Za-z0-9_-]{43}$/);
  });
});

describe('safeEqual', () => {
  it('compares strings of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
    expect(safeEqual('', '')).toBe(true);
    expect(safeEqual('', 'a')).toBe(false);
  });
});

describe('encryptSecret / decryptSecret', () => {
  const key = randomBytes(32);
  const plain = generateWebhookSecret();

  it('round-trips', () => {
    expect(decryptSecret(encryptSecret(plain, key), key)).toBe(plain);
    expect(decryptSecret(encryptSecret('', key), key)).toBe('');
    expect(decryptSecret(encryptSecret('pässwörd ✓', key), key)).toBe('pässwörd ✓');
  });

  it('uses the v1 format with a fresh IV each time', () => {
    const first = encryptSecret(plain, key);
    const second = encryptSecret(plain, key);
    expect(first).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/);
    expect(first).not.toBe(second);
  });

  it('does not contain the plaintext', () => {
    const stored = encryptSecret(plain, key);
    expect(stored).not.toContain(plain);
    expect(stored).not.toContain(plain.slice('whsec_'.length, 20));
    expect(stored).not.toContain(Buffer.from(plain).toString('base64url').slice(0, 16));
  });

  it('throws when the ciphertext, tag or IV is tampered with', () => {
    const stored = encryptSecret(plain, key);
    const [version, iv, tag, ciphertext] = stored.split('.');
    const flip = (part: string): string => {
      const bytes = Buffer.from(part, 'base64url');
      bytes[0] ^= 1;
      return bytes.toString('base64url');
    };
    for (const tampered of [
      [version, iv, tag, flip(ciphertext)],
      [version, iv, flip(tag), ciphertext],
      [version, flip(iv), tag, ciphertext],
    ]) {
      expect(() => decryptSecret(tampered.join('.'), key)).toThrow(/wrong encryption key or tampered/);
    }
  });

  it('throws with the wrong key', () => {
    const stored = encryptSecret(plain, key);
    expect(() => decryptSecret(stored, randomBytes(32))).toThrow(/wrong encryption key or tampered/);
  });

  it('throws on a value that is not in the v1 format', () => {
    expect(() => decryptSecret('whsec_plain', key)).toThrow(/v1 format/);
    expect(() => decryptSecret('v2.a.b.c', key)).toThrow(/v1 format/);
    expect(() => decryptSecret('v1.AAAA.AAAA.AAAA', key)).toThrow(/malformed/);
  });

  it('requires a 32-byte key', () => {
    expect(() => encryptSecret(plain, randomBytes(16))).toThrow(/32 bytes/);
    expect(() => decryptSecret(encryptSecret(plain, key), randomBytes(31))).toThrow(/32 bytes/);
  });
});
