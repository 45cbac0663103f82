// The customer portal end to end, in headless Chromium against a real Herald and a real receiver:
// portal link → create an endpoint (by keyboard) → copy its secret once → send a test event →
// watch it live → a failing receiver shows RETRYING then FAILED live → Retry → it succeeds.
import type { Page } from 'playwright-core';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openBrowser, screenshot } from '../helpers/browser.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { deliveryRow, endpointRow, liveStatus, openPortal, portalLink, waitForText } from '../helpers/portal.ts';
import { type ReceivedRequest, type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h, 'Acme Messaging');
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

/** Presses Tab until the focused element is the button or link named `name` (at most 40 presses). */
async function tabTo(page: Page, name: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null;
      return el ? (el.getAttribute('aria-label') ?? el.textContent ?? '').trim() : '';
    });
    if (focused === name) return;
  }
  throw new Error(`"${name}" was not reached with the Tab key`);
}

/** The `deliveries` queries the page sent: a row that appears without one arrived live. */
function countLogReads(page: Page): () => number {
  let reads = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/graphql') && request.postData()?.includes('query PortalDeliveries')) reads++;
  });
  return () => reads;
}

/** Form fields without a label (by <label> or aria-label), described by their outer HTML. */
function unlabelledFields(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    [...document.querySelectorAll<HTMLInputElement>('input, select, textarea')]
      .filter((el) => el.labels?.length === 0 && !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
      .map((el) => el.outerHTML),
  );
}

const verify = (secret: string, r: ReceivedRequest) =>
  new StandardWebhook(secret).verify(r.body, {
    'webhook-id': String(r.headers['webhook-id']),
    'webhook-timestamp': String(r.headers['webhook-timestamp']),
    'webhook-signature': String(r.headers['webhook-signature']),
  });

describe('the customer portal in headless Chromium', () => {
  test('portal link → endpoint → secret copied once → test event → live log → RETRYING, FAILED → Retry → SUCCEEDED', async () => {
    const browser = await openBrowser();
    try {
      const page = browser.context.pages()[0] ?? (await browser.context.newPage());
      const logReads = countLogReads(page);
      const link = await portalLink(h, { tenantId: tenant.id, expiresInSeconds: 900 });
      expect(link.url).toMatch(new RegExp(`^${h.url.replace('/graphql', '')}/portal#code=hrldc_`));

      await openPortal(page, link.url);
      // The code is gone from the address once spent; the page shows who it is for.
      expect(page.url()).not.toContain('code=');
      expect(page.url()).not.toContain('hrldc_');
      await waitForText(page.locator('header'), 'Acme Messaging');
      await screenshot(page, 'portal-endpoints-empty');

      // Add an endpoint with the keyboard only.
      const hookUrl = `${receiver.url}/portal-hook`;
      await tabTo(page, 'Add endpoint');
      await page.keyboard.press('Enter');
      const urlField = page.getByLabel('Endpoint URL');
      await urlField.waitFor();
      await urlField.focus();
      await page.keyboard.type(hookUrl);
      const events = page.getByRole('group', { name: 'Events' });
      // The catalog shows each event's description and an example payload.
      await waitForText(events, 'The carrier or channel confirmed delivery to the handset.');
      await events.getByRole('listitem').filter({ hasText: 'message.delivered' }).getByText('Example payload').click();
      await waitForText(page.getByLabel('Example payload of message.delivered'), '"messageId"');
      await events.getByRole('checkbox', { name: 'message.delivered' }).focus();
      await page.keyboard.press('Space');
      expect(await events.getByRole('checkbox', { name: 'message.delivered' }).isChecked()).toBe(true);
      await page.getByText('Channels, authentication, headers, retries').click();
      await page.getByLabel('Retry schedule (seconds)').fill('2');
      expect(await unlabelledFields(page)).toEqual([]);
      await screenshot(page, 'portal-endpoint-form');
      await page.getByLabel('Retry schedule (seconds)').press('Enter');

      // The secret is shown once, in a dialog, with a copy button.
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      const shown = await dialog.getByLabel('Signing secret').inputValue();
      expect(shown).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      await dialog.getByRole('button', { name: 'Copy' }).click();
      await waitForText(dialog, 'Copied to the clipboard.');
      const secret = await page.evaluate(() => navigator.clipboard.readText());
      expect(secret).toBe(shown);
      await screenshot(page, 'portal-secret');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      // Gone from the page: nothing shows it again.
      expect(await page.content()).not.toContain(secret);

      const row = endpointRow(page, hookUrl);
      await waitForText(row, 'ACTIVE');
      await waitForText(row, 'message.delivered');

      // A second tab (its own link) watches the log while the first sends a test event.
      const watcher = await browser.context.newPage();
      const watcherReads = countLogReads(watcher);
      await openPortal(watcher, (await portalLink(h, { tenantId: tenant.id })).url);
      await watcher.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Deliveries' }).click();
      await waitForText(watcher.getByRole('region', { name: 'Deliveries' }), 'No deliveries yet');
      expect(watcherReads()).toBe(1);
      await page.bringToFront();

      // Send test event: it arrives, signed with the copied secret, and its delivery goes live.
      await row.getByRole('button', { name: 'Send test event' }).click();
      await waitForText(page.getByRole('status').filter({ hasText: 'Test event sent' }), `Test event sent to ${hookUrl}`);
      await receiver.waitFor(1, 15_000);
      const testRequest = receiver.requests[0];
      expect(JSON.parse(testRequest.body).type).toBe('webhook.test');
      expect(verify(secret, testRequest)).toMatchObject({ type: 'webhook.test' });
      const testDeliveryId = String(testRequest.headers['herald-delivery-id']);
      // It appeared in the other tab's log and went SUCCEEDED there, without the log being read again.
      await waitForText(deliveryRow(watcher, testDeliveryId), 'SUCCEEDED');
      await waitForText(deliveryRow(watcher, testDeliveryId), 'webhook.test');
      expect(watcherReads()).toBe(1);
      await watcher.close();

      // Open it: the attempt is there, as sent and as answered.
      await page.getByRole('link', { name: 'View delivery' }).click();
      await page.getByRole('heading', { name: `Delivery ${testDeliveryId}` }).waitFor();
      await waitForText(page.locator('.facts'), 'SUCCEEDED');
      const attempt = page.getByRole('listitem', { name: 'Attempt 1' });
      await waitForText(attempt, 'HTTP 200');
      await waitForText(attempt, 'TEST');
      await attempt.getByText('Request').click();
      await waitForText(page.getByRole('table', { name: 'Request headers of attempt 1' }), 'webhook-signature');
      await waitForText(page.getByLabel('Event payload'), '"webhook.test"');
      await screenshot(page, 'portal-delivery-test');

      // The log, newest first, with the test delivery.
      await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Deliveries' }).click();
      await deliveryRow(page, testDeliveryId).waitFor();
      await waitForText(deliveryRow(page, testDeliveryId), 'SUCCEEDED');
      const readsBefore = logReads();

      // The receiver starts failing; an event published by the platform shows up live and goes
      // RETRYING (after attempt 1), then FAILED (after the one retry of the schedule).
      receiver.setHandler((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('receiver down'));
      const published = await h.ok('mutation($input: PublishEventInput!) { publishEvent(input: $input) { event { id } } }', {
        input: { tenantId: tenant.id, type: 'message.delivered', channel: 'sms', data: { messageId: 'm_portal_1' } },
      });
      await receiver.waitFor(2, 15_000);
      const failingId = String(receiver.requests[1].headers['herald-delivery-id']);
      expect(receiver.requests[1].headers['webhook-id']).toBe(published.publishEvent.event.id);
      const failing = deliveryRow(page, failingId);
      await failing.waitFor({ timeout: 10_000 });
      const statuses = new Set<string>();
      await expect
        .poll(
          async () => {
            const status = (await failing.locator('.badge').textContent()) ?? '';
            statuses.add(status);
            return status;
          },
          { timeout: 20_000, interval: 50 },
        )
        .toBe('FAILED');
      expect([...statuses]).toContain('RETRYING');
      await waitForText(failing, '2 attempts · HTTP 500');
      // All of it without reading the log again: it came over the live connection.
      expect(logReads()).toBe(readsBefore);
      expect(await liveStatus(page).textContent()).toBe('Live');
      // The newest delivery is first.
      const firstRow = page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem').first();
      expect(await firstRow.getAttribute('aria-label')).toBe(failingId);
      expect(await unlabelledFields(page)).toEqual([]);
      await screenshot(page, 'portal-deliveries');

      // Open it, then Retry once the receiver is back: a MANUAL attempt succeeds, live.
      await failing.getByRole('link', { name: failingId }).click();
      await page.getByRole('heading', { name: `Delivery ${failingId}` }).waitFor();
      await waitForText(page.getByRole('listitem', { name: 'Attempt 2' }), 'HTTP 500');
      await waitForText(page.getByRole('listitem', { name: 'Attempt 2' }), 'receiver down');
      receiver.setHandler((_req, res) => res.writeHead(200).end('ok'));
      await page.getByRole('button', { name: 'Retry' }).click();
      await waitForText(page.locator('.facts'), 'SUCCEEDED');
      await waitForText(page.getByRole('listitem', { name: 'Attempt 3' }), 'MANUAL');
      await waitForText(page.getByRole('listitem', { name: 'Attempt 3' }), 'HTTP 200');
      expect(verify(secret, receiver.requests[3])).toMatchObject({ data: { messageId: 'm_portal_1' } });
      await screenshot(page, 'portal-delivery-detail');

      // The endpoint's health now shows what happened.
      await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Endpoints' }).click();
      await waitForText(endpointRow(page, hookUrl), 'Deliveries (24 h)2 of 2 succeededLast success'); // the test event and the retried one
      await screenshot(page, 'portal-endpoints');

      // Readable at 375 px: nothing wider than the screen, on each page.
      await page.setViewportSize({ width: 375, height: 800 });
      for (const [hash, name] of [
        [`#/deliveries/${failingId}`, 'delivery'],
        ['#/deliveries', 'deliveries'],
        ['#/endpoints', 'endpoints'],
      ]) {
        await page.evaluate((hash) => (location.hash = hash), hash);
        await page.locator('main h1').first().waitFor();
        await page.waitForTimeout(300);
        expect(await page.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(375);
        await screenshot(page, `portal-375-${name}`);
      }
      expect(browser.outside).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
