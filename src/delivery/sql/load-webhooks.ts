import type { Pool } from 'pg';
import type { SignatureScheme } from '../../core/signing.ts';
import type { CustomHeader, StoredSecret, WebhookStatus } from '../../entities/Webhook.ts';

export interface WebhookForDelivery {
  id: string;
  tenantId: string;
  url: string;
  status: WebhookStatus;
  deleted: boolean;
  signatureScheme: SignatureScheme;
  secrets: StoredSecret[];
  authEncrypted: string | null;
  headers: CustomHeader[];
  retrySchedule: number[] | null;
  timeoutMs: number;
  maxInFlight: number;
}

/** The current settings of the given webhooks (read per claimed batch, so changes apply at once). */
export async function loadWebhooks(pool: Pool, ids: string[]): Promise<Map<string, WebhookForDelivery>> {
  const { rows } = await pool.query<WebhookForDelivery>(
    `select id, tenant_id as "tenantId", url, status, deleted_at is not null as deleted,
            signature_scheme as "signatureScheme", secrets, auth_encrypted as "authEncrypted", headers,
            retry_schedule as "retrySchedule", timeout_ms as "timeoutMs", max_in_flight as "maxInFlight"
       from webhook where id = any($1::text[])`,
    [ids],
  );
  return new Map(rows.map((row) => [row.id, row]));
}
