import { afterAll, beforeAll, expect, test } from 'vitest';
import { createTenant, startTestHerald, type TestHerald } from './helpers/herald.ts';

let h: TestHerald;
beforeAll(async () => {
  h = await startTestHerald();
});
afterAll(() => h?.stop());

test('an admin creates a tenant whose key creates a webhook', async () => {
  const tenant = await createTenant(h);
  const data = await h.ok(
    `mutation { createWebhook(input: { url: "https://example.com/hook", events: ["message.delivered"] }) { webhook { id status } secret } }`,
    {},
    tenant.key,
  );
  expect(data.createWebhook.webhook.status).toBe('ACTIVE');
  expect(data.createWebhook.secret).toMatch(/^whsec_/);
});
