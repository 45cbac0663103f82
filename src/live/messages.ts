/**
 * Live-status messages carried between processes by PostgreSQL NOTIFY. They stay small
 * (ids and status); a subscriber loads the rest. Several are packed into one NOTIFY payload.
 */
export const LIVE_CHANNEL = 'herald_live';

/** NOTIFY payloads must stay under 8 000 bytes. */
const MAX_PAYLOAD_BYTES = 7800;

export interface WebhookStatusMessage {
  kind: 'webhook';
  tenantId: string;
  webhookId: string;
  status: string;
  deleted: boolean;
}

export type DeliveryPhase = 'QUEUED' | 'ATTEMPT_STARTED' | 'ATTEMPT_FINISHED' | 'RETRY_SCHEDULED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

export interface DeliveryMessage {
  kind: 'delivery';
  tenantId: string;
  webhookId: string;
  eventId: string;
  deliveryId: string;
  phase: DeliveryPhase;
  status: string;
  attemptId: string | null;
  nextAttemptAt: string | null;
}

export type LiveMessage = WebhookStatusMessage | DeliveryMessage;

/** Splits messages into JSON-array payloads that each fit one NOTIFY. */
export function packMessages(messages: LiveMessage[]): string[] {
  const payloads: string[] = [];
  let batch: string[] = [];
  let size = 2;
  for (const message of messages) {
    const json = JSON.stringify(message);
    if (batch.length > 0 && size + json.length + 1 > MAX_PAYLOAD_BYTES) {
      payloads.push(`[${batch.join(',')}]`);
      batch = [];
      size = 2;
    }
    batch.push(json);
    size += json.length + 1;
  }
  if (batch.length > 0) payloads.push(`[${batch.join(',')}]`);
  return payloads;
}

export function unpackMessages(payload: string): LiveMessage[] {
  return JSON.parse(payload) as LiveMessage[];
}

/**
 * Sends messages with NOTIFY through any query function (pool, client, transaction), in one
 * statement. Inside a transaction they are delivered only if it commits.
 */
export async function notifyLive(query: (sql: string, params: unknown[]) => Promise<unknown>, messages: LiveMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await query('select pg_notify($1, payload) from unnest($2::text[]) as payload', [LIVE_CHANNEL, packMessages(messages)]);
}

/** A QUEUED message for each new or re-queued delivery. */
export function queuedMessages(
  deliveries: { id: string; tenantId: string; webhookId: string; eventId: string; status?: string }[],
): DeliveryMessage[] {
  return deliveries.map((d) => ({
    kind: 'delivery',
    tenantId: d.tenantId,
    webhookId: d.webhookId,
    eventId: d.eventId,
    deliveryId: d.id,
    phase: 'QUEUED',
    status: d.status ?? 'PENDING',
    attemptId: null,
    nextAttemptAt: null,
  }));
}
