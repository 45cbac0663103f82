import { type AnnouncingPhase, type DeliveryPhase, type DeliveryStatus, STATUS_ANNOUNCED_BY } from '../core/delivery-state.ts';

/**
 * Live-status messages carried between processes by PostgreSQL NOTIFY. They stay small
 * (ids and status); a subscriber loads the rest. Several are packed into one NOTIFY payload.
 */
export const LIVE_CHANNEL = 'herald_live';

/** NOTIFY payloads must stay under 8 000 bytes. */
const MAX_PAYLOAD_BYTES = 7800;

/** `tenantId` null: an operator webhook's, or one of its deliveries' (only the admin key's subscribers see them). */
export interface WebhookStatusMessage {
  kind: 'webhook';
  tenantId: string | null;
  webhookId: string;
  status: string;
  deleted: boolean;
}

export type { DeliveryPhase };

export interface DeliveryMessage {
  kind: 'delivery';
  tenantId: string | null;
  webhookId: string;
  eventId: string;
  deliveryId: string;
  phase: DeliveryPhase;
  /** The delivery's status as of this phase. */
  status: DeliveryStatus;
  attemptId: string | null;
  nextAttemptAt: string | null;
}

/**
 * A credential (an API key, or any other kind a caller authenticates with) was revoked: every
 * API process ends the subscriptions and connections it authenticated.
 */
export interface RevokedMessage {
  kind: 'revoked';
  credentialId: string;
}

export type LiveMessage = WebhookStatusMessage | DeliveryMessage | RevokedMessage;

/**
 * The wire form: one JSON array per message instead of an object (a worker sends several per
 * delivery, so bytes matter), and consecutive phases of one delivery with the same state share
 * an entry (`ATTEMPT_FINISHED+SUCCEEDED`).
 */
type WireMessage =
  | ['w', string | null, string, string, 0 | 1]
  | ['d', string | null, string, string, string, string, string, string | 0, string | 0]
  | ['r', string];

function toWire(m: LiveMessage): WireMessage {
  switch (m.kind) {
    case 'webhook':
      return ['w', m.tenantId, m.webhookId, m.status, m.deleted ? 1 : 0];
    case 'delivery':
      return ['d', m.tenantId, m.webhookId, m.eventId, m.deliveryId, m.phase, m.status, m.attemptId ?? 0, m.nextAttemptAt ?? 0];
    case 'revoked':
      return ['r', m.credentialId];
  }
}

function sameState(a: WireMessage, b: WireMessage): boolean {
  return a[0] === 'd' && b[0] === 'd' && a[4] === b[4] && a[6] === b[6] && a[7] === b[7] && a[8] === b[8];
}

/** Splits messages into JSON-array payloads that each fit one NOTIFY. */
export function packMessages(messages: LiveMessage[]): string[] {
  const entries: WireMessage[] = [];
  for (const message of messages) {
    const wire = toWire(message);
    const last = entries.at(-1);
    if (last?.[0] === 'd' && wire[0] === 'd' && sameState(last, wire)) last[5] = `${last[5]}+${wire[5]}`;
    else entries.push(wire);
  }
  const payloads: string[] = [];
  let batch: string[] = [];
  let size = 2;
  for (const entry of entries) {
    const json = JSON.stringify(entry);
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
  const messages: LiveMessage[] = [];
  for (const entry of JSON.parse(payload) as WireMessage[]) {
    if (entry[0] === 'w') {
      messages.push({ kind: 'webhook', tenantId: entry[1], webhookId: entry[2], status: entry[3], deleted: entry[4] === 1 });
      continue;
    }
    if (entry[0] === 'r') {
      messages.push({ kind: 'revoked', credentialId: entry[1] });
      continue;
    }
    const [, tenantId, webhookId, eventId, deliveryId, phases, status, attemptId, nextAttemptAt] = entry;
    for (const phase of phases.split('+')) {
      messages.push({
        kind: 'delivery',
        tenantId,
        webhookId,
        eventId,
        deliveryId,
        phase: phase as DeliveryPhase,
        status: status as DeliveryStatus,
        attemptId: attemptId || null,
        nextAttemptAt: nextAttemptAt || null,
      });
    }
  }
  return messages;
}

/**
 * The NOTIFY payloads of `messages` as one statement parameter: a JSON array of strings, which
 * `notifyPayloadsSql` unpacks (pg escapes a text[] parameter element by element in JavaScript,
 * a sizeable share of the worker's allocations; JSON.stringify is native).
 */
export function notifyPayloads(messages: LiveMessage[]): string {
  return JSON.stringify(packMessages(messages));
}

/** The rows (`payload` text) of a `notifyPayloads` parameter, e.g. `notifyPayloadsSql('$2')`. */
export function notifyPayloadsSql(param: string): string {
  return `json_array_elements_text(${param}::json) as payload`;
}

/**
 * Sends messages with NOTIFY through any query function (pool, client, transaction), in one
 * statement. Inside a transaction they are delivered only if it commits.
 */
export async function notifyLive(query: (sql: string, params: unknown[]) => Promise<unknown>, messages: LiveMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await query(`select pg_notify($1, payload) from ${notifyPayloadsSql('$2')}`, [LIVE_CHANNEL, notifyPayloads(messages)]);
}

/** The message announcing a webhook's status, or its delete. */
export function webhookStatusMessage(webhook: {
  id: string;
  tenantId: string | null;
  status: string;
  deleted: boolean;
}): WebhookStatusMessage {
  return { kind: 'webhook', tenantId: webhook.tenantId, webhookId: webhook.id, status: webhook.status, deleted: webhook.deleted };
}

/** The ids a delivery message carries. */
export interface DeliveryIds {
  id: string;
  tenantId: string | null;
  webhookId: string;
  eventId: string;
}

interface DeliveryMessageOptions {
  attemptId?: string | null;
  nextAttemptAt?: Date | null;
}

/**
 * The message announcing `phase` of one delivery with its status as of that phase: given, or for
 * the phases that announce a status (QUEUED of a new delivery, RETRY_SCHEDULED, the final ones)
 * the one they announce.
 */
export function deliveryMessage(
  delivery: DeliveryIds,
  phase: AnnouncingPhase,
  options?: DeliveryMessageOptions & { status?: DeliveryStatus },
): DeliveryMessage;
export function deliveryMessage(
  delivery: DeliveryIds,
  phase: DeliveryPhase,
  options: DeliveryMessageOptions & { status: DeliveryStatus },
): DeliveryMessage;
export function deliveryMessage(
  delivery: DeliveryIds,
  phase: DeliveryPhase,
  options: DeliveryMessageOptions & { status?: DeliveryStatus } = {},
): DeliveryMessage {
  return {
    kind: 'delivery',
    tenantId: delivery.tenantId,
    webhookId: delivery.webhookId,
    eventId: delivery.eventId,
    deliveryId: delivery.id,
    phase,
    status: options.status ?? STATUS_ANNOUNCED_BY[phase as AnnouncingPhase],
    attemptId: options.attemptId ?? null,
    nextAttemptAt: options.nextAttemptAt?.toISOString() ?? null,
  };
}
