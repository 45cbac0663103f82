import { expect, test } from 'vitest';
import type { DeliveryPhase, DeliveryStatus } from '../../src/core/delivery-state.ts';
import { type LiveMessage, packMessages, unpackMessages } from '../../src/live/messages.ts';

const delivery = (phase: DeliveryPhase, status: DeliveryStatus, attemptId: string | null = 'att_1'): LiveMessage => ({
  kind: 'delivery',
  tenantId: 'ten_1',
  webhookId: 'wh_1',
  eventId: 'evt_1',
  deliveryId: 'dlv_1',
  phase,
  status,
  attemptId,
  nextAttemptAt: null,
});

test('messages survive packing unchanged and in order, phases of one state sharing an entry', () => {
  const messages: LiveMessage[] = [
    delivery('QUEUED', 'PENDING', null),
    delivery('ATTEMPT_STARTED', 'PENDING'),
    delivery('ATTEMPT_FINISHED', 'SUCCEEDED'),
    delivery('SUCCEEDED', 'SUCCEEDED'),
    { kind: 'webhook', tenantId: 'ten_1', webhookId: 'wh_1', status: 'PAUSED', deleted: true },
    { kind: 'revoked', credentialId: 'key_1' },
  ];
  const payloads = packMessages(messages);
  expect(payloads).toHaveLength(1);
  expect(JSON.parse(payloads[0])).toHaveLength(5); // FINISHED and SUCCEEDED merged
  expect(unpackMessages(payloads[0])).toEqual(messages);
});

test('payloads stay under the NOTIFY limit and lose nothing', () => {
  const messages = Array.from({ length: 2000 }, (_, i) => ({ ...delivery('QUEUED', 'PENDING', null), deliveryId: `dlv_${i}` }));
  const payloads = packMessages(messages);
  expect(payloads.length).toBeGreaterThan(1);
  for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
  expect(payloads.flatMap(unpackMessages)).toEqual(messages);
});
