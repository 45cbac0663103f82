import { PRIORITY_RANK, type Priority } from './flow.ts';
import { DELIVERY_EXHAUSTED, DELIVERY_RECOVERED, OPERATIONAL_EXAMPLES, WEBHOOK_DISABLED, WEBHOOK_ENABLED } from './operational-events.ts';

const message = { messageId: 'msg_01h2xcejqtf2nbrexx3vqjhp41', to: '+14155550123', from: '+14155550100', channel: 'sms' };
const campaign = { campaignId: 'cmp_01h2xcf4k6a9z3m1w7q8r5t2yv', name: 'Spring sale' };

/** A built-in catalog entry. */
export interface BuiltInEventType {
  name: string;
  description: string;
  example: Record<string, unknown>;
  /** Sent by Herald itself (core/operational-events.ts): subscribed to by name only, never published. */
  operational: boolean;
}

const MESSAGING_EVENT_TYPES: readonly Omit<BuiltInEventType, 'operational'>[] = [
  { name: 'message.queued', description: 'A message was accepted and queued for sending.', example: { ...message } },
  { name: 'message.sent', description: 'A message was handed to the carrier or channel.', example: { ...message, segments: 1 } },
  {
    name: 'message.delivered',
    description: 'The carrier or channel confirmed delivery to the handset.',
    example: { ...message, deliveredAt: '2026-11-22T10:00:03.000Z' },
  },
  {
    name: 'message.read',
    description: 'The recipient read the message (channels with read receipts).',
    example: { ...message, channel: 'whatsapp', readAt: '2026-11-22T10:02:11.000Z' },
  },
  {
    name: 'message.failed',
    description: 'Sending failed; the message will not be delivered.',
    example: { ...message, errorCode: '30003', errorMessage: 'Unreachable destination handset' },
  },
  {
    name: 'message.undeliverable',
    description: 'The carrier reported the destination as unreachable.',
    example: { ...message, errorCode: '30005', errorMessage: 'Unknown destination handset' },
  },
  {
    name: 'message.inbound',
    description: 'A message was received from an end user.',
    example: { ...message, to: '+14155550100', from: '+14155550123', text: 'Is my order on its way?' },
  },
  {
    name: 'message.optout',
    description: 'An end user opted out (e.g. replied STOP).',
    example: { from: '+14155550123', to: '+14155550100', channel: 'sms', keyword: 'STOP' },
  },
  {
    name: 'message.blocked',
    description: 'A message was blocked by policy or by the carrier.',
    example: { ...message, reason: 'recipient opted out' },
  },
  { name: 'campaign.started', description: 'A campaign began sending.', example: { ...campaign, recipients: 12000 } },
  { name: 'campaign.sent', description: 'Every message of a campaign was sent.', example: { ...campaign, sent: 11987, failed: 13 } },
  {
    name: 'campaign.completed',
    description: 'A campaign finished, with final delivery figures.',
    example: { ...campaign, sent: 11987, delivered: 11802, failed: 185, optouts: 21 },
  },
  {
    name: 'template.approved',
    description: 'A message template was approved.',
    example: { templateId: 'tpl_order_shipped', language: 'en', channel: 'whatsapp' },
  },
  {
    name: 'template.rejected',
    description: 'A message template was rejected.',
    example: { templateId: 'tpl_promo_42', language: 'en', channel: 'whatsapp', reason: 'Promotional content in a utility template' },
  },
  {
    name: 'device.connected',
    description: 'A sending device or number came online.',
    example: { deviceId: 'dev_7f3a', number: '+14155550100' },
  },
  {
    name: 'device.disconnected',
    description: 'A sending device or number went offline.',
    example: { deviceId: 'dev_7f3a', number: '+14155550100', reason: 'no heartbeat for 5 minutes' },
  },
  {
    name: 'webhook.test',
    description: 'A test event sent with sendTestEvent.',
    example: { message: 'This is a test event from Herald.', webhookId: 'wh_01h2xcg0v8s6d4f2h0k8m6p4r2' },
  },
];

const OPERATIONAL_CATALOG: readonly Omit<BuiltInEventType, 'operational'>[] = [
  {
    name: WEBHOOK_DISABLED,
    description:
      'Herald disabled one of your webhooks (it answered 410 Gone, or every delivery failed for days); it receives nothing until set back to ACTIVE.',
    example: OPERATIONAL_EXAMPLES[WEBHOOK_DISABLED],
  },
  {
    name: WEBHOOK_ENABLED,
    description: 'A disabled webhook was set back to ACTIVE.',
    example: OPERATIONAL_EXAMPLES[WEBHOOK_ENABLED],
  },
  {
    name: DELIVERY_EXHAUSTED,
    description:
      'A delivery ran out of attempts and is FAILED (replayable). The first of a webhook in a minute comes at once; the rest of that minute come in one follow-up with their count.',
    example: OPERATIONAL_EXAMPLES[DELIVERY_EXHAUSTED],
  },
  {
    name: DELIVERY_RECOVERED,
    description: 'A webhook answered with success again after a streak of failed attempts.',
    example: OPERATIONAL_EXAMPLES[DELIVERY_RECOVERED],
  },
];

/**
 * The built-in catalog every tenant sees, each with an example of the `data` it carries (shown
 * to customers choosing what to subscribe to): the messaging events, `webhook.test`, and the
 * operational events Herald sends itself. Tenants may add their own names beside these.
 */
export const BUILT_IN_EVENT_TYPES: readonly BuiltInEventType[] = [
  ...MESSAGING_EVENT_TYPES.map((t) => ({ ...t, operational: false })),
  ...OPERATIONAL_CATALOG.map((t) => ({ ...t, operational: true })),
];

const builtInNames = new Set(BUILT_IN_EVENT_TYPES.map((t) => t.name));

/** Built-in types that ship HIGH (an opt-out must not wait behind a campaign's callbacks); the rest ship NORMAL. */
const HIGH_BY_DEFAULT: ReadonlySet<string> = new Set(['message.optout', 'message.blocked', 'webhook.test']);

/** The priority a built-in type ships with; every other type is NORMAL unless an operator sets it. */
export function defaultPriority(name: string): Priority {
  return HIGH_BY_DEFAULT.has(name) ? 'HIGH' : 'NORMAL';
}

/** defaultPriority() as the rank a delivery stores. */
export function defaultPriorityRank(name: string): number {
  return PRIORITY_RANK[defaultPriority(name)];
}

export function isBuiltInEventType(name: string): boolean {
  return builtInNames.has(name);
}

/**
 * Event type names: letters, digits, `_`, `.` and `-`, so that other platforms' catalogs fit
 * as they are (`message.delivered`, Hub's `MESSAGE_RECEIVED`, Zautic's `contact.created`).
 */
export const EVENT_TYPE_NAME = /^[A-Za-z0-9_.-]{1,100}$/;
export const EVENT_TYPE_NAME_MAX = 100;

/** `webhook.test` always exists: sendTestEvent sends it. */
export const TEST_EVENT_TYPE = 'webhook.test';
