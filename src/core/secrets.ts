// Secrets Herald creates, hashes and keeps at rest. Pure: only node:crypto.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SecretFormat, SigningKey } from './profiles/definition.ts';

const WEBHOOK_SECRET_PREFIX = 'whsec_';
const API_KEY_PREFIX = 'hrld_';
const ADMIN_KEY_PREFIX = 'hrld_admin_';
// Not `hrld_…`: a tenant key (`hrld_` + base64url) may itself start with any letters, so the
// portal's secrets get prefixes no API key can have.
const PORTAL_CODE_PREFIX = 'hrldc_';
const PORTAL_TOKEN_PREFIX = 'hrldp_';
// Long enough to tell keys apart in a list, far too short to guess the rest.
const API_KEY_DISPLAY_LENGTH = 12;

const CIPHER = 'aes-256-gcm';
const ENCRYPTION_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ENCRYPTED_FORMAT_VERSION = 'v1';

/** A webhook signing secret: `whsec_` + base64 of 32 random bytes (Standard Webhooks form). */
export function generateWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The HMAC key of a Standard Webhooks secret: the base64 after `whsec_`.
 * The prefix is optional, as in the `standardwebhooks` library.
 */
export function webhookSecretKey(secret: string): Buffer {
  const encoded = secret.startsWith(WEBHOOK_SECRET_PREFIX) ? secret.slice(WEBHOOK_SECRET_PREFIX.length) : secret;
  const key = Buffer.from(encoded, 'base64');
  if (key.length === 0) throw new Error('Webhook secret is empty or not base64');
  return key;
}

/** A signing secret in a profile's format (`secret.format` of a delivery profile). */
export function generateSecret(format: SecretFormat): string {
  switch (format) {
    case 'WHSEC':
      return generateWebhookSecret();
    case 'HEX':
      return randomBytes(32).toString('hex');
    case 'TOKEN':
      return randomBytes(32).toString('base64url');
  }
}

const IMPORTED = {
  WHSEC: { pattern: /^whsec_[A-Za-z0-9+/]+={0,2}$/, description: '"whsec_" followed by the base64 of 24 to 64 bytes' },
  HEX: { pattern: /^[0-9A-Fa-f]{64}$/, description: '64 hexadecimal characters' },
  TOKEN: { pattern: /^[\x21-\x7e]{16,256}$/, description: '16 to 256 visible ASCII characters' },
} as const;

/**
 * Why an imported secret does not fit `format`, or null when it does. A receiver's existing
 * secret is imported as is, so it must be one Herald can sign with.
 */
export function secretFormatError(format: SecretFormat, secret: string): string | null {
  const { pattern, description } = IMPORTED[format];
  if (!pattern.test(secret)) return `must be ${description}`;
  if (format === 'WHSEC') {
    const encoded = secret.slice(WEBHOOK_SECRET_PREFIX.length);
    const key = Buffer.from(encoded, 'base64');
    if (key.length < 24 || key.length > 64 || key.toString('base64') !== encoded) return `must be ${description}`;
  }
  return null;
}

/** The HMAC key a profile's `signature.key` makes from a secret string. Throws if the secret does not fit. */
export function signingKeyBytes(secret: string, key: SigningKey): Buffer {
  switch (key) {
    case 'WHSEC_DECODED':
      return webhookSecretKey(secret);
    case 'SECRET_BYTES':
      return Buffer.from(secret, 'utf8');
    case 'HEX_DECODED':
      if (!/^([0-9A-Fa-f]{2})+$/.test(secret)) throw new Error('Webhook secret is not hexadecimal');
      return Buffer.from(secret, 'hex');
  }
}

/** A tenant API key. Only `prefix` and `hash` are stored; `secret` is shown once. */
export function generateApiKey(): { secret: string; prefix: string; hash: string } {
  const secret = API_KEY_PREFIX + randomBytes(32).toString('base64url');
  return {
    secret,
    prefix: secret.slice(0, API_KEY_DISPLAY_LENGTH),
    hash: hashApiKey(secret),
  };
}

/**
 * A customer portal secret: the one-time `code` of a portal link (`hrldc_…`) or the bearer
 * `token` of an opened session (`hrldp_…`). 256 random bits; only `hash` is stored.
 */
export function generatePortalSecret(kind: 'code' | 'token'): { secret: string; hash: string } {
  const secret = (kind === 'code' ? PORTAL_CODE_PREFIX : PORTAL_TOKEN_PREFIX) + randomBytes(32).toString('base64url');
  return { secret, hash: hashApiKey(secret) };
}

/** Whether a bearer token is a portal session's (rather than an API key). */
export function isPortalToken(token: string): boolean {
  return token.startsWith(PORTAL_TOKEN_PREFIX);
}

/**
 * SHA-256 hex of an API key (or a portal code or token). A plain fast hash is enough (no bcrypt): the key
 * carries 256 random bits, so there is nothing to brute-force offline.
 */
export function hashApiKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** The operators' admin key, generated on first start in development. */
export function generateAdminKey(): string {
  return ADMIN_KEY_PREFIX + randomBytes(32).toString('base64url');
}

/**
 * Constant-time string comparison. Both sides are hashed first so that
 * neither the content nor the length of the expected value leaks through timing.
 */
export function safeEqual(a: string, b: string): boolean {
  const digestA = createHash('sha256').update(a, 'utf8').digest();
  const digestB = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(digestA, digestB);
}

/**
 * Encrypts a secret for storage: AES-256-GCM with a fresh 12-byte IV,
 * stored as `v1.<iv>.<tag>.<ciphertext>` (base64url). The version lets the
 * format or key change later without guessing what an old row holds.
 */
export function encryptSecret(plain: string, key: Buffer): string {
  assertEncryptionKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  const tag = cipher.getAuthTag();
  return [ENCRYPTED_FORMAT_VERSION, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join('.');
}

/** Reverses `encryptSecret`; throws if the value was altered or the key is wrong. */
export function decryptSecret(stored: string, key: Buffer): string {
  assertEncryptionKey(key);
  const parts = stored.split('.');
  if (parts.length !== 4 || parts[0] !== ENCRYPTED_FORMAT_VERSION) {
    throw new Error(`Encrypted secret is not in the ${ENCRYPTED_FORMAT_VERSION} format`);
  }
  const iv = Buffer.from(parts[1], 'base64url');
  const tag = Buffer.from(parts[2], 'base64url');
  const ciphertext = Buffer.from(parts[3], 'base64url');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) {
    throw new Error('Encrypted secret is malformed (bad IV or tag length)');
  }
  const decipher = createDecipheriv(CIPHER, key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // GCM cannot tell a wrong key from tampering; both fail authentication.
    throw new Error('Could not decrypt secret: wrong encryption key or tampered data');
  }
}

function assertEncryptionKey(key: Buffer): void {
  if (key.length !== ENCRYPTION_KEY_BYTES) {
    throw new Error(`Encryption key must be exactly ${ENCRYPTION_KEY_BYTES} bytes, got ${key.length}`);
  }
}

/** The stored secrets still signing at `now`, newest first (old ones until their grace period ends). */
export function activeSecrets<T extends { expiresAt: string | null }>(secrets: readonly T[], now = new Date()): T[] {
  return secrets.filter((s) => s.expiresAt === null || new Date(s.expiresAt) > now);
}
