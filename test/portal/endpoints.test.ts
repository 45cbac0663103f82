// Managing endpoints in the portal, in headless Chromium: bad input is shown at its field, an
// edit reaches the deliveries (auth, custom headers, events), rotation shows a new secret once
// and both secrets sign during the grace period, pause/resume/delete, and changes made
// elsewhere appear live.
import type { Page, Route } from 'playwright-core';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, screenshot } from '../helpers/browser.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook, updateWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { browserOnPortal, endpointRow, eventually, waitForText } from '../helpers/portal.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };
let browser: Browser;
let page: Page;

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h, 'Endpoints');
  ({ browser, page } = await browserOnPortal(h, tenant.id));
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await receiver?.close();
});

const WEBHOOK =
  'query($id: ID!) { webhook(id: $id) { id url description events channels status auth { type username } headers { name value } retrySchedule timeoutMs secretCount } }';
const WEBHOOKS = '{ webhooks { edges { node { id url } } } }';

async function webhookIdOf(url: string): Promise<string> {
  const { webhooks } = await h.ok(WEBHOOKS, {}, tenant.key);
  return webhooks.edges.find((e: any) => e.node.url === url).node.id;
}

/** Fills the add form and saves; returns the secret the dialog shows (and closes it). */
async function addEndpoint(url: string): Promise<string> {
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.getByLabel('Endpoint URL').fill(url);
  await page.getByRole('group', { name: 'Events' }).getByRole('checkbox', { name: 'All events' }).check();
  await page.getByRole('button', { name: 'Save' }).click();
  const dialog = page.getByRole('dialog');
  const secret = await dialog.getByLabel('Signing secret').inputValue();
  await dialog.getByRole('button', { name: 'Done' }).click();
  await dialog.waitFor({ state: 'detached' });
  return secret;
}

const verifies = (secret: string, r: ReceivedRequest) => {
  try {
    new StandardWebhook(secret).verify(r.body, {
      'webhook-id': String(r.headers['webhook-id']),
      'webhook-timestamp': String(r.headers['webhook-timestamp']),
      'webhook-signature': String(r.headers['webhook-signature']),
    });
    return true;
  } catch {
    return false;
  }
};

describe('endpoints in the portal', () => {
  test('bad input is shown at its field, and nothing is created', async () => {
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByLabel('Endpoint URL').fill('ftp://example.com/hook');
    await page.getByRole('button', { name: 'Save' }).click();
    // The events were left empty: the page says so before asking Herald.
    await waitForText(page.getByRole('group', { name: 'Events' }), 'Pick at least one event');
    // The keyboard is taken to what needs attention.
    expect(await page.evaluate(() => document.activeElement?.closest('fieldset')?.querySelector('legend')?.textContent)).toBe('Events');
    await page.getByRole('group', { name: 'Events' }).getByRole('checkbox', { name: 'message.optout' }).check();
    await page.getByRole('button', { name: 'Save' }).click();
    // Herald's VALIDATION_ERROR names the field; the page shows its message there.
    const url = page.getByLabel('Endpoint URL');
    await eventually(() => url.getAttribute('aria-invalid')).toBe('true');
    expect(await url.evaluate((input) => input === document.activeElement)).toBe(true);
    const note = page.locator(`#${await url.getAttribute('aria-describedby')}`);
    await waitForText(note, 'http');
    await waitForText(page.getByRole('alert'), 'Invalid input: url');
    await screenshot(page, 'portal-endpoint-invalid');
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect((await h.ok(WEBHOOKS, {}, tenant.key)).webhooks.edges).toEqual([]);
  });

  test('an edit reaches the deliveries: URL, events, basic auth, a custom header, retry schedule and timeout', async () => {
    const first = `${receiver.url}/edit-before`;
    await addEndpoint(first);
    const id = await webhookIdOf(first);
    const row = endpointRow(page, first);
    await row.getByRole('button', { name: 'Edit' }).click();
    const after = `${receiver.url}/edit-after`;
    await page.getByLabel('Endpoint URL').fill(after);
    await page.getByLabel('Description', { exact: true }).fill('Orders service');
    const events = page.getByRole('group', { name: 'Events' });
    await events.getByRole('checkbox', { name: 'All events' }).uncheck();
    await events.getByRole('checkbox', { name: 'message.inbound' }).check();
    await page.getByLabel('Authentication').selectOption('BASIC');
    await page.getByLabel('Username').fill('herald');
    await page.getByLabel('Password').fill('s3cret-pass');
    await page.getByLabel('Custom headers').fill('X-Team: payments');
    await page.getByLabel('Retry schedule (seconds)').fill('10, 60');
    await page.getByLabel('Timeout (ms)').fill('5000');
    await page.getByRole('button', { name: 'Save' }).click();
    await endpointRow(page, after).waitFor();
    await waitForText(endpointRow(page, after), 'Orders service');

    const { webhook } = await h.ok(WEBHOOK, { id }, tenant.key);
    expect(webhook).toMatchObject({
      url: after,
      description: 'Orders service',
      events: ['message.inbound'],
      auth: { type: 'BASIC', username: 'herald' },
      headers: [{ name: 'X-Team', value: 'payments' }],
      retrySchedule: [10, 60],
      timeoutMs: 5000,
    });
    // A message.inbound arrives with the header and the credentials; a message.sent does not arrive.
    const before = receiver.requests.length;
    await h.ok(
      'mutation { publishEvents(inputs: [{ type: "message.sent", data: {} }, { type: "message.inbound", data: { text: "hi" } }]) { event { id } } }',
      {},
      tenant.key,
    );
    await receiver.waitFor(before + 1, 10_000);
    const request = receiver.requests[before];
    expect(request.url).toBe('/edit-after');
    expect(request.headers['x-team']).toBe('payments');
    expect(request.headers.authorization).toBe(`Basic ${Buffer.from('herald:s3cret-pass').toString('base64')}`);
    expect(JSON.parse(request.body).type).toBe('message.inbound');

    // Editing again without touching the password keeps it (it is never shown back).
    await endpointRow(page, after).getByRole('button', { name: 'Edit' }).click();
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    expect(await page.getByLabel('Password').getAttribute('placeholder')).toBe('unchanged');
    await page.getByLabel('Description', { exact: true }).fill('Orders');
    await page.getByRole('button', { name: 'Save' }).click();
    await waitForText(endpointRow(page, after), 'Orders');
    await h.ok('mutation { publishEvent(input: { type: "message.inbound", data: { text: "again" } }) { event { id } } }', {}, tenant.key);
    await receiver.waitFor(before + 2, 10_000);
    expect(receiver.requests[before + 1].headers.authorization).toBe(request.headers.authorization);
  });

  test('Rotate secret shows the new secret once; old and new both sign during the grace period', async () => {
    const url = `${receiver.url}/rotate`;
    const old = await addEndpoint(url);
    const row = endpointRow(page, url);
    await row.getByRole('button', { name: 'Rotate secret' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    const dialog = page.getByRole('dialog');
    await waitForText(dialog, 'New signing secret');
    const fresh = await dialog.getByLabel('Signing secret').inputValue();
    expect(fresh).toMatch(/^whsec_/);
    expect(fresh).not.toBe(old);
    await screenshot(page, 'portal-rotated');
    await dialog.getByRole('button', { name: 'Done' }).click();
    expect(await page.content()).not.toContain(fresh);

    const before = receiver.requests.length;
    await row.getByRole('button', { name: 'Send test event' }).click();
    await receiver.waitFor(before + 1, 10_000);
    const request = receiver.requests.filter((r) => r.url === '/rotate').at(-1)!;
    expect(String(request.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(verifies(fresh, request)).toBe(true);
    expect(verifies(old, request)).toBe(true);
  });

  test('a list read that began before a Pause (a slow network) does not undo it on the page', async () => {
    const url = `${receiver.url}/stale`;
    await addEndpoint(url);
    const row = endpointRow(page, url);
    let held = 0;
    // The list is read at once, and its answer held on the way back.
    const slow = async (route: Route) => {
      if (!route.request().postData()?.includes('query PortalWebhooks')) return route.continue();
      const response = await route.fetch();
      held++;
      await new Promise((resolve) => setTimeout(resolve, 2500));
      return route.fulfill({ response });
    };
    await page.route('**/graphql', slow);
    try {
      // Leaving and coming back reads the list again: that read is held while Pause is clicked.
      await page.evaluate(() => (location.hash = '#/deliveries'));
      await page.evaluate(() => (location.hash = '#/endpoints'));
      await eventually(() => held).toBeGreaterThan(0);
      await row.getByRole('button', { name: 'Pause' }).click();
      await waitForText(row.locator('.badge'), 'PAUSED');
      await new Promise((resolve) => setTimeout(resolve, 3500));
      expect(await row.locator('.badge').textContent()).toBe('PAUSED');
    } finally {
      await page.unroute('**/graphql', slow);
    }
  });

  test('Pause, Resume and Delete; a pause made elsewhere appears live', async () => {
    const url = `${receiver.url}/lifecycle`;
    await addEndpoint(url);
    const id = await webhookIdOf(url);
    const row = endpointRow(page, url);
    await row.getByRole('button', { name: 'Pause' }).click();
    await waitForText(row.locator('.badge'), 'PAUSED');
    await row.getByRole('button', { name: 'Resume' }).click();
    await waitForText(row.locator('.badge'), 'ACTIVE');
    expect((await h.ok(WEBHOOK, { id }, tenant.key)).webhook.status).toBe('ACTIVE');

    // The platform pauses it through the API: the page shows it without being asked.
    await updateWebhook(h, tenant.key, id, { status: 'PAUSED' });
    await waitForText(row.locator('.badge'), 'PAUSED', 5_000);
    await row.getByRole('button', { name: 'Resume' }).waitFor();

    await row.getByRole('button', { name: 'Delete' }).click();
    const confirm = page.getByRole('dialog');
    await waitForText(confirm, 'stops receiving events at once');
    // Escape cancels; nothing is deleted.
    await page.keyboard.press('Escape');
    await confirm.waitFor({ state: 'detached' });
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete endpoint' }).click();
    await row.waitFor({ state: 'detached' });
    expect((await h.ok(WEBHOOK, { id }, tenant.key)).webhook).toBeNull();
  });
  test('flow control shows on the card: limits, ordering, waiting, and a throttle when the endpoint answers 429, live', async () => {
    const busy = await startReceiver({ handler: (_req, res) => res.writeHead(429, { 'retry-after': '3600' }).end('slow down') });
    try {
      const url = `${busy.url}/busy`;
      const { id } = await createWebhook(h, tenant.key, { url, events: ['*'], maxInFlight: 8 });
      await updateWebhook(h, tenant.key, id, { rateLimit: 2.5, ordering: 'KEYED' });
      await page.evaluate(() => (location.hash = '#/deliveries'));
      await page.evaluate(() => (location.hash = '#/endpoints'));
      const row = endpointRow(page, url);
      await waitForText(row, 'At once8');
      await waitForText(row, 'Rate limit2.5/s');
      await waitForText(row, 'OrderingOne at a time per key');
      expect(await row.locator('.warning').count()).toBe(0);

      // The endpoint pushes back: adaptive throttling halves the limits, and the card says so without a reload.
      await h.ok('mutation($id: ID!) { sendTestEvent(webhookId: $id) { id } }', { id }, tenant.key);
      await waitForText(row.locator('.warning'), /Throttled to 4 at once, 1\.3\/s since .*429 Too Many Requests/, 5_000);
      const { webhook } = await h.ok('query($id: ID!) { webhook(id: $id) { throttle { concurrency rate reason } } }', { id }, tenant.key);
      expect(webhook.throttle).toEqual({ concurrency: 4, rate: 1.25, reason: 'HTTP_429' });

      // A throttle that lowers the rate alone names the rate alone (not "8 at once", its own maxInFlight).
      await withPgClient(h.databaseUrl, (db) =>
        db.query(`update webhook set throttle_concurrency = 8, throttle_rate = 1, throttle_written_at = now() where id = $1`, [id]),
      );
      await page.evaluate(() => (location.hash = '#/deliveries'));
      await page.evaluate(() => (location.hash = '#/endpoints'));
      await waitForText(endpointRow(page, url).locator('.warning'), /Throttled to 1\/s since .*429 Too Many Requests/, 5_000);
      // Adaptive throttling turned off shows on the card.
      expect(await endpointRow(page, url).getByText('Adaptive throttling').count()).toBe(0);
      await updateWebhook(h, tenant.key, id, { adaptiveThrottling: false });
      await page.evaluate(() => (location.hash = '#/deliveries'));
      await page.evaluate(() => (location.hash = '#/endpoints'));
      await waitForText(endpointRow(page, url), 'Adaptive throttlingOff');
    } finally {
      await busy.close();
    }
  });
});
