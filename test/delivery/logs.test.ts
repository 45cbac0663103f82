import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTestDatabase } from '../helpers/db.ts';
import { createWebhook, listDeliveries, publish } from '../helpers/deliveries.ts';
import { createTenant, gqlClient } from '../helpers/herald.ts';
import { type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

// Herald as operators run it: `herald serve` in its own process, logging JSON to stdout.
const adminKey = `hrld_admin_test_${randomBytes(12).toString('hex')}`;

let herald: HeraldProcess;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  herald = await startHeraldProcess({
    role: 'all',
    env: {
      DATABASE_URL: await createTestDatabase(),
      HERALD_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      HERALD_ADMIN_KEY: adminKey,
      HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
      HERALD_ALLOW_HTTP: 'true',
    },
  });
});
afterAll(async () => {
  herald?.kill('SIGTERM');
  await Promise.race([herald?.exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  await herald?.dispose();
  await receiver?.close();
});

/** Every stdout line, parsed; a line that is not JSON fails the test. */
function logLines(): Record<string, any>[] {
  return herald.lines
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line);
      } catch {
        throw new Error(`not a JSON log line: ${line}`);
      }
    });
}

test('each attempt is one JSON log line with delivery id, webhook id, status and duration — no secrets, no payload', async () => {
  const api = gqlClient(herald.url!, adminKey);
  const { key: tenantKey } = await createTenant(api, 'logs');
  const authToken = `auth-token-${randomBytes(8).toString('hex')}`;
  const { id: webhookId, secret: signingSecret } = await createWebhook(api, tenantKey, {
    url: `${receiver.url}/logged`,
    auth: { type: 'BEARER', token: authToken },
    headers: [{ name: 'x-customer', value: 'header-value-visible' }],
    retrySchedule: [1],
  });
  const marker = `payload-marker-${randomBytes(8).toString('hex')}`;
  // The first attempt fails and the second succeeds, so both outcomes are logged.
  let n = 0;
  receiver.setHandler((_req, res) => res.writeHead(n++ === 0 ? 500 : 200).end(`response-body-${marker}`));
  const { eventId } = await publish(api, tenantKey, {
    type: 'message.inbound',
    channel: 'sms',
    data: { text: marker, phone: '+15550100' },
  });
  await receiver.waitFor(2, 10_000);
  const attemptLines = () => logLines().filter((l) => l.msg === 'delivery attempt' && l.eventId === eventId);
  await expect.poll(() => attemptLines().length, { timeout: 10_000 }).toBe(2);

  const [{ id: deliveryId }] = await listDeliveries(api, tenantKey, { eventId });
  const [first, second] = attemptLines();
  for (const [line, status, attempt] of [
    [first, 500, 1],
    [second, 200, 2],
  ] as const) {
    expect(line).toMatchObject({ level: 30, deliveryId, webhookId, eventId, status, attempt, trigger: 'SCHEDULED' });
    expect(typeof line.durationMs).toBe('number');
    expect(typeof line.time).toBe('number');
  }
  expect(first.outcome).toBe('retry');
  expect(second.outcome).toBe('succeeded');

  const log = [...herald.lines, ...herald.stderr].join('\n');
  for (const secret of [signingSecret, signingSecret.slice('whsec_'.length), authToken, tenantKey, adminKey]) {
    expect(log).not.toContain(secret);
  }
  expect(log).not.toContain(marker);
  expect(log).not.toContain('+15550100');
  const signature = String(receiver.requests[0].headers['webhook-signature']);
  expect(log).not.toContain(signature.slice(3));
});
