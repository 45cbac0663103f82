import { readAuth, type StoredAuth } from '../core/auth.ts';
import { BoundedMap } from '../core/bounded-map.ts';
import { activeSecrets, decryptSecret } from '../core/secrets.ts';
import type { StoredSecret } from '../entities/Webhook.ts';

interface DecryptedSigning {
  /** The stored secrets (ciphertext and expiry) and auth this was made from: any change makes a new entry. */
  stored: string;
  secrets: { plain: string; expiresAt: string | null }[];
  auth: StoredAuth;
}

/**
 * Decrypted signing secrets and auth per webhook, for a worker that reads each webhook's stored
 * settings with every claim: decrypted again only when the stored secrets or auth change. Secrets
 * past their grace period (`activeSecrets`) are left out at each use. It holds the secrets of
 * up to 10 000 webhooks this worker has delivered to, for the life of the process.
 */
export class SigningCache {
  private readonly entries = new BoundedMap<string, DecryptedSigning>(10_000);
  private readonly encryptionKey: Buffer;

  constructor(encryptionKey: Buffer) {
    this.encryptionKey = encryptionKey;
  }

  get(
    webhook: { id: string; secrets: readonly Pick<StoredSecret, 'encrypted' | 'expiresAt'>[]; authEncrypted?: string | null },
    now = new Date(),
  ): { secrets: string[]; auth: StoredAuth } {
    const stored = `${webhook.secrets.map((s) => `${s.encrypted}@${s.expiresAt ?? ''}`).join(',')}|${webhook.authEncrypted ?? ''}`;
    let entry = this.entries.get(webhook.id);
    if (entry?.stored !== stored) {
      entry = {
        stored,
        secrets: webhook.secrets.map((s) => ({ plain: decryptSecret(s.encrypted, this.encryptionKey), expiresAt: s.expiresAt })),
        auth: readAuth(webhook, this.encryptionKey),
      };
      this.entries.set(webhook.id, entry);
    }
    return { secrets: activeSecrets(entry.secrets, now).map((s) => s.plain), auth: entry.auth };
  }

  /** A tenant's live secrets under a tenant-scoped profile, newest first, decrypted again only when they change. */
  tenantSecrets(
    tenantId: string,
    profile: string,
    secrets: readonly Pick<StoredSecret, 'encrypted' | 'expiresAt'>[],
    now = new Date(),
  ): string[] {
    return this.get({ id: `tenant ${tenantId} ${profile}`, secrets }, now).secrets;
  }
}
