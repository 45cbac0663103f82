// Operational events (README, "Operating Herald"): what Herald itself tells tenants and operators
// about their webhooks and deliveries, delivered like any event. Pure: the names, the shape of
// each one's `data`, and the rules for when one is owed. The worker's recorder and
// updateWebhook emit them (src/outbox/notices.ts) in the transaction of the change they report.
import { type DeliveryStatus, isWaiting } from './delivery-state.ts';

export const WEBHOOK_DISABLED = 'webhook.disabled';
export const WEBHOOK_ENABLED = 'webhook.enabled';
export const DELIVERY_EXHAUSTED = 'delivery.exhausted';
export const DELIVERY_RECOVERED = 'delivery.recovered';

export const OPERATIONAL_EVENT_TYPES = [WEBHOOK_DISABLED, WEBHOOK_ENABLED, DELIVERY_EXHAUSTED, DELIVERY_RECOVERED] as const;
export type OperationalEventType = (typeof OPERATIONAL_EVENT_TYPES)[number];

const operational = new Set<string>(OPERATIONAL_EVENT_TYPES);

/**
 * Whether Herald sends this type itself. A webhook receives these only when it names them (`*`
 * does not include them); nobody may publish them; and none is ever emitted about a delivery of
 * one of them, so they cannot feed on themselves.
 */
export function isOperationalEventType(type: string): boolean {
  return operational.has(type);
}

/** `data` of `webhook.disabled`. Times are ISO 8601 UTC strings. */
export interface WebhookDisabledData {
  webhookId: string;
  url: string;
  /** The reason the webhook shows (`disabledReason`): a 410 Gone, or failing for HERALD_DISABLE_AFTER. */
  reason: string;
  disabledAt: string;
}

/** `data` of `webhook.enabled`: a DISABLED webhook set back to ACTIVE. */
export interface WebhookEnabledData {
  webhookId: string;
  url: string;
  enabledAt: string;
}

/**
 * `data` of `delivery.exhausted`: `count` deliveries of the webhook reached FAILED (out of
 * attempts) between `since` and `failedAt`; the ids and the last error are those of the last of
 * them. The first of a webhook's window goes out at once with `count` 1 (`since` = `failedAt`);
 * the ones after it in the window (HERALD_EXHAUSTED_WINDOW) come in one follow-up.
 */
export interface DeliveryExhaustedData {
  webhookId: string;
  url: string;
  deliveryId: string;
  eventId: string;
  eventType: string;
  attemptCount: number;
  /** The last attempt's HTTP status; null when no response came. */
  lastResponseStatus: number | null;
  /** The last attempt's error kind (TIMEOUT, CONNECTION, …); null when it got an HTTP answer. */
  lastError: string | null;
  failedAt: string;
  count: number;
  since: string;
}

/** `data` of `delivery.recovered`: a success after `failedAttempts` failed attempts in a row. */
export interface DeliveryRecoveredData {
  webhookId: string;
  url: string;
  deliveryId: string;
  eventId: string;
  eventType: string;
  /** Failed attempts in the streak this success ended. */
  failedAttempts: number;
  /** When the first of them ended. */
  failingSince: string;
  recoveredAt: string;
}

/** One operational event to send: its type, the tenant it concerns, the webhook it is about, and its data. */
export type Notice =
  | { type: typeof WEBHOOK_DISABLED; tenantId: string; webhookId: string; data: WebhookDisabledData }
  | { type: typeof WEBHOOK_ENABLED; tenantId: string; webhookId: string; data: WebhookEnabledData }
  | { type: typeof DELIVERY_EXHAUSTED; tenantId: string; webhookId: string; data: DeliveryExhaustedData }
  | { type: typeof DELIVERY_RECOVERED; tenantId: string; webhookId: string; data: DeliveryRecoveredData };

/** What the rules below need to know of a delivery. */
export interface NoticeSource {
  /** null: a delivery to an operator webhook (those never emit anything). */
  tenantId: string | null;
  eventType: string;
}

/** Whether a delivery may be the subject of an operational event: a tenant's, and not of one itself. */
export function mayNotify(delivery: NoticeSource): boolean {
  return delivery.tenantId !== null && !isOperationalEventType(delivery.eventType);
}

/**
 * Whether an attempt exhausted a delivery: it was still owed attempts by its schedule (waiting),
 * the attempt failed and it is now FAILED (its last scheduled attempt, or a 410). Not a test, not
 * a retry by hand of an ended delivery (it had ended already), not the deliveries failed because
 * their webhook was disabled (`webhook.disabled` says so).
 */
export function exhausts(
  delivery: NoticeSource & { status: DeliveryStatus; trigger: string },
  decision: { status: DeliveryStatus; attempted: boolean },
): boolean {
  return (
    mayNotify(delivery) && decision.attempted && decision.status === 'FAILED' && isWaiting(delivery.status) && delivery.trigger !== 'TEST'
  );
}

/** Examples for the catalog (shown to customers choosing what to subscribe to). */
export const OPERATIONAL_EXAMPLES = {
  [WEBHOOK_DISABLED]: {
    webhookId: 'wh_01h2xcg0v8s6d4f2h0k8m6p4r2',
    url: 'https://example.com/hooks/herald',
    reason: 'The endpoint answered 410 Gone',
    disabledAt: '2026-11-22T10:00:00.000Z',
  },
  [WEBHOOK_ENABLED]: {
    webhookId: 'wh_01h2xcg0v8s6d4f2h0k8m6p4r2',
    url: 'https://example.com/hooks/herald',
    enabledAt: '2026-11-22T11:30:00.000Z',
  },
  [DELIVERY_EXHAUSTED]: {
    webhookId: 'wh_01h2xcg0v8s6d4f2h0k8m6p4r2',
    url: 'https://example.com/hooks/herald',
    deliveryId: 'dlv_01h2xch3m9q1w5e7r9t1y3u5i7',
    eventId: 'evt_01h2xcekz4b8n2m6v0c4x8z2l6',
    eventType: 'message.inbound',
    attemptCount: 10,
    lastResponseStatus: 503,
    lastError: null,
    failedAt: '2026-11-25T09:12:44.000Z',
    count: 1,
    since: '2026-11-25T09:12:44.000Z',
  },
  [DELIVERY_RECOVERED]: {
    webhookId: 'wh_01h2xcg0v8s6d4f2h0k8m6p4r2',
    url: 'https://example.com/hooks/herald',
    deliveryId: 'dlv_01h2xcj7p3s5d7f9g1h3j5k7l9',
    eventId: 'evt_01h2xcem2c6v0b4n8m2q6w0e4r',
    eventType: 'message.sent',
    failedAttempts: 7,
    failingSince: '2026-11-22T09:41:02.000Z',
    recoveredAt: '2026-11-22T10:05:17.000Z',
  },
} satisfies {
  [WEBHOOK_DISABLED]: WebhookDisabledData;
  [WEBHOOK_ENABLED]: WebhookEnabledData;
  [DELIVERY_EXHAUSTED]: DeliveryExhaustedData;
  [DELIVERY_RECOVERED]: DeliveryRecoveredData;
};
