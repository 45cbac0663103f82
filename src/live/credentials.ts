import type { Logger } from '../logger.ts';
import type { LiveMessage } from './messages.ts';

/**
 * What a long-lived connection or subscription authenticated with: an API key (`key_…`), or any
 * other kind of credential, by its id. `expiresAt`, when set, ends it at that time.
 */
export interface Credential {
  id: string;
  expiresAt?: Date | null;
}

/** Why a credential stopped being valid. */
export type CredentialEnd = 'revoked' | 'expired';

/**
 * Which of these credential ids are still valid (not revoked, not expired). Each kind of
 * credential answers for its own ids; one query per kind.
 */
export type ValidCredentials = (ids: string[]) => Promise<Set<string>>;

/** How often the watched credentials are checked against the database: the backstop for a missed NOTIFY. */
export const CREDENTIAL_CHECK_MS = 2000;

/** setTimeout's longest delay (about 24.8 days); a later expiry is left to the periodic check. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Ends what a credential opened — subscriptions, WebSocket connections — once it is revoked or
 * expires, in this API process. Revocations arrive as `revoked` live messages (NOTIFY, sent by
 * the transaction that revoked); because a notification can be missed while the LISTEN
 * connection is re-established, the watched credentials are also checked every
 * CREDENTIAL_CHECK_MS (one query per kind, only while something is watched). An `expiresAt`
 * ends its watchers by timer.
 */
export class CredentialWatch {
  private readonly watchers = new Map<string, Set<(end: CredentialEnd) => void>>();
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  private readonly log: Logger;
  private readonly valid: ValidCredentials;
  private readonly checkMs: number;

  /** `valid` answers which credentials still are; `checkMs` is the period of the backstop check. */
  constructor(options: { valid: ValidCredentials; logger: Logger; checkMs?: number }) {
    this.valid = options.valid;
    this.checkMs = options.checkMs ?? CREDENTIAL_CHECK_MS;
    this.log = options.logger.child({ component: 'credential-watch' });
  }

  /** How many credentials have something open. */
  get watching(): number {
    return this.watchers.size;
  }

  /**
   * Calls `onEnd` once, when the credential is revoked or expires. Watchers of one credential
   * are called in the order they were added. Returns a function that stops watching (call it
   * when what was opened ends by itself).
   */
  watch(credential: Credential, onEnd: (end: CredentialEnd) => void): () => void {
    let set = this.watchers.get(credential.id);
    if (!set) {
      set = new Set();
      this.watchers.set(credential.id, set);
      this.timeExpiry(credential);
    }
    const watcher = (end: CredentialEnd) => onEnd(end);
    set.add(watcher);
    return () => {
      const current = this.watchers.get(credential.id);
      if (!current?.delete(watcher) || current.size > 0) return;
      this.forget(credential.id);
    };
  }

  /** Ends everything these credentials opened; `via` (how it was learnt) is logged. */
  end(ids: Iterable<string>, why: CredentialEnd, via: 'notification' | 'check' | 'expiry'): void {
    for (const id of ids) {
      const set = this.watchers.get(id);
      if (!set) continue;
      this.forget(id);
      this.log.info({ credentialId: id, why, via, ended: set.size }, 'credential ended: closing what it opened');
      for (const watcher of set) {
        try {
          watcher(why);
        } catch (err) {
          this.log.error({ err, credentialId: id }, 'could not end what a credential opened');
        }
      }
    }
  }

  /** Takes the `revoked` messages among live messages. */
  receive(messages: readonly LiveMessage[]): void {
    const revoked = messages.flatMap((m) => (m.kind === 'revoked' ? [m.credentialId] : []));
    if (revoked.length > 0) this.end(revoked, 'revoked', 'notification');
  }

  /** Checks every watched credential now; the periodic check calls this. Never throws. */
  async check(): Promise<void> {
    if (this.checking || this.watchers.size === 0) return;
    this.checking = true;
    try {
      const ids = [...this.watchers.keys()];
      const valid = await this.valid(ids);
      this.end(
        ids.filter((id) => !valid.has(id)),
        'revoked',
        'check',
      );
    } catch (err) {
      // The database may be away: keep what is open rather than end it on a guess.
      this.log.warn({ err }, 'could not check credentials; retrying');
    } finally {
      this.checking = false;
    }
  }

  start(): void {
    this.checkTimer ??= setInterval(() => void this.check(), this.checkMs);
    this.checkTimer.unref();
  }

  stop(): void {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = null;
    for (const timer of this.expiryTimers.values()) clearTimeout(timer);
    this.expiryTimers.clear();
  }

  private timeExpiry(credential: Credential): void {
    if (!credential.expiresAt) return;
    const delay = credential.expiresAt.getTime() - Date.now();
    if (delay > MAX_TIMER_MS) return;
    const timer = setTimeout(() => this.end([credential.id], 'expired', 'expiry'), Math.max(0, delay));
    timer.unref();
    this.expiryTimers.set(credential.id, timer);
  }

  private forget(id: string): void {
    this.watchers.delete(id);
    const timer = this.expiryTimers.get(id);
    if (timer) clearTimeout(timer);
    this.expiryTimers.delete(id);
  }
}
