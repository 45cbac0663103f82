import { afterAll, beforeAll, expect, test } from 'vitest';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, deliveryOf, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import type { Receiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver({
    receiver: {
      handler: (_req, res) => {
        res
          .writeHead(202, {
            'content-type': 'application/json',
            'x-request-id': 'req-1',
            link: '<https://example.com/next>; rel="next"',
            'X-Receiver-Note': 'a: b\tc',
          })
          .end('{"ok":true}');
      },
    },
  }));
});
afterAll(() => stopAll(h, receiver));

/** Keys in jsonb's order (by length in bytes, then bytewise): the order the attempt log has always shown. */
const jsonbOrder = (keys: string[]) =>
  [...keys].sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));

test('an attempt keeps what was sent and what came back, in a third of the bytes jsonb took', async () => {
  const webhook = await createWebhook(h, tenant.key, {
    url: `${receiver.url}/log`,
    headers: [{ name: 'X-Customer-Ref', value: 'acme:42' }],
  });
  const { eventId } = await publish(h, tenant.key);
  const [request] = await receiver.waitFor(1, 10_000);
  const delivery = await waitForDelivery(h, tenant.key, (await deliveryOf(h, tenant.key, eventId, webhook.id)).id);
  expect(delivery.status).toBe('SUCCEEDED');
  const [attempt] = delivery.attempts;

  // What was sent, header for header (the signature redacted), in jsonb's key order.
  const sent = Object.fromEntries(
    Object.entries(request.headers).filter(([name]) => !['host', 'connection', 'content-length'].includes(name)),
  );
  expect(attempt.requestHeaders).toEqual({ ...sent, 'webhook-signature': '[redacted]' });
  expect(Object.keys(attempt.requestHeaders)).toEqual(jsonbOrder(Object.keys(attempt.requestHeaders)));
  expect(attempt.requestHeaders['x-customer-ref']).toBe('acme:42');
  // What came back, names lowercase.
  expect(attempt.responseHeaders).toMatchObject({
    'content-type': 'application/json',
    'x-request-id': 'req-1',
    link: '<https://example.com/next>; rel="next"',
    'x-receiver-note': 'a: b\tc',
  });
  expect(Object.keys(attempt.responseHeaders!)).toEqual(jsonbOrder(Object.keys(attempt.responseHeaders!)));

  // The row keeps both maps in well under the bytes jsonb took for them.
  const sizes = await withPgClient(h.databaseUrl, async (db) => {
    const { rows } = await db.query<{ request: number; response: number; request_jsonb: number; response_jsonb: number }>(
      `select pg_column_size(request_headers) as request, pg_column_size(response_headers) as response,
              pg_column_size($2::jsonb) as request_jsonb, pg_column_size($3::jsonb) as response_jsonb
         from attempt where id = $1`,
      [attempt.id, JSON.stringify(attempt.requestHeaders), JSON.stringify(attempt.responseHeaders)],
    );
    return rows[0];
  });
  expect(sizes.request).toBeLessThan(sizes.request_jsonb * 0.6);
  expect(sizes.response).toBeLessThan(sizes.response_jsonb * 0.6);
});
