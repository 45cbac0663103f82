/** The built-in catalog every tenant sees. Tenants may add their own names beside these. */
export const BUILT_IN_EVENT_TYPES: readonly { name: string; description: string }[] = [
  { name: 'message.queued', description: 'A message was accepted and queued for sending.' },
  { name: 'message.sent', description: 'A message was handed to the carrier or channel.' },
  { name: 'message.delivered', description: 'The carrier or channel confirmed delivery to the handset.' },
  { name: 'message.read', description: 'The recipient read the message (channels with read receipts).' },
  { name: 'message.failed', description: 'Sending failed; the message will not be delivered.' },
  { name: 'message.undeliverable', description: 'The carrier reported the destination as unreachable.' },
  { name: 'message.inbound', description: 'A message was received from an end user.' },
  { name: 'message.optout', description: 'An end user opted out (e.g. replied STOP).' },
  { name: 'message.blocked', description: 'A message was blocked by policy or by the carrier.' },
  { name: 'campaign.started', description: 'A campaign began sending.' },
  { name: 'campaign.sent', description: 'Every message of a campaign was sent.' },
  { name: 'campaign.completed', description: 'A campaign finished, with final delivery figures.' },
  { name: 'template.approved', description: 'A message template was approved.' },
  { name: 'template.rejected', description: 'A message template was rejected.' },
  { name: 'device.connected', description: 'A sending device or number came online.' },
  { name: 'device.disconnected', description: 'A sending device or number went offline.' },
  { name: 'webhook.test', description: 'A test event sent with sendTestEvent.' },
];

const builtInNames = new Set(BUILT_IN_EVENT_TYPES.map((t) => t.name));

export function isBuiltInEventType(name: string): boolean {
  return builtInNames.has(name);
}

/** Lowercase dotted names: `message.delivered`, `acme.invoice_paid`. */
export const EVENT_TYPE_NAME = /^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$/;
export const EVENT_TYPE_NAME_MAX = 100;
