import { decryptSecret } from '../core/secrets.ts';
import type { StoredSecret } from '../entities/Webhook.ts';
import type { StoredAuth } from './webhook-input.ts';

/** The stored secrets still signing at `now`, newest first (old ones until their grace period ends). */
export function activeSecrets(secrets: readonly StoredSecret[], now = new Date()): StoredSecret[] {
  return secrets.filter((s) => s.expiresAt === null || new Date(s.expiresAt) > now);
}

/** The decrypted `whsec_…` secrets that sign a delivery made now, newest first. */
export function signingSecrets(webhook: { secrets: readonly StoredSecret[] }, encryptionKey: Buffer, now = new Date()): string[] {
  return activeSecrets(webhook.secrets, now).map((s) => decryptSecret(s.encrypted, encryptionKey));
}

/** A webhook's outbound authentication, decrypted. */
export function readAuth(webhook: { authEncrypted?: string | null }, encryptionKey: Buffer): StoredAuth {
  if (!webhook.authEncrypted) return { type: 'NONE' };
  return JSON.parse(decryptSecret(webhook.authEncrypted, encryptionKey)) as StoredAuth;
}
