// The delivery log in the portal, in headless Chromium: filters (endpoint, status, event type,
// time range) as the API applies them, "Load more" through the pages, and Replay failed for an
// endpoint over a time range.
import type { Page, Route } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, screenshot } from '../helpers/browser.ts';
import { createWebhook, getDelivery, listDeliveries, PUBLISH_MANY, publish, waitForDelivery, waitUntil } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { browserOnPortal, deliveryRow, endpointRow, eventually, waitForText } from '../helpers/portal.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };
let browser: Browser;
let page: Page;
let good: { id: string; url: string };
let bad: { id: string; url: string };
/** The failing endpoint's deliveries: two before `middle`, one after. */
const failed: { id: string; createdAt: string }[] = [];
let middle: Date;

beforeAll(async () => {
  receiver = await startReceiver({
    handler: (req, res) => res.writeHead(req.url === '/bad' ? 503 : 200).end(req.url === '/bad' ? 'down' : 'ok'),
  });
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h, 'Deliveries');
  good = { url: `${receiver.url}/good`, id: (await createWebhook(h, tenant.key, { url: `${receiver.url}/good` })).id };
  // One attempt only: a failure is final at once.
  bad = { url: `${receiver.url}/bad`, id: (await createWebhook(h, tenant.key, { url: `${receiver.url}/bad`, retrySchedule: [] })).id };
  for (const [i, type] of ['message.failed', 'message.sent', 'message.failed'].entries()) {
    if (i === 2) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      middle = new Date();
      await new Promise((resolve) => setTimeout(resolve, 1100));
    }
    const { eventId } = await publish(h, tenant.key, { type });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: bad.id });
    await waitUntil(async () => (await getDelivery(h, tenant.key, delivery.id)).status === 'FAILED', { message: 'a FAILED delivery' });
    failed.push({ id: delivery.id, createdAt: delivery.createdAt });
  }
  ({ browser, page } = await browserOnPortal(h, tenant.id));
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await receiver?.close();
});

/** The ids the log shows, in order. */
const shownIds = (): Promise<(string | null)[]> =>
  page
    .getByRole('region', { name: 'Deliveries' })
    .getByRole('listitem')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label')));

/** The same filter asked of the API: what the log must show. */
const apiIds = async (filter: Record<string, unknown>) => (await listDeliveries(h, tenant.key, filter)).map((d) => d.id);

describe('the delivery log', () => {
  test('each filter shows what the API gives for it, newest first, and is kept in the address', async () => {
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Deliveries' }).click();
    await eventually(shownIds).toEqual(await apiIds({}));
    expect((await shownIds()).length).toBe(6);

    await page.getByLabel('Endpoint').selectOption({ label: bad.url });
    await eventually(shownIds).toEqual(await apiIds({ webhookId: bad.id }));
    await page.getByLabel('Status').selectOption('FAILED');
    await eventually(shownIds).toEqual(await apiIds({ webhookId: bad.id, status: 'FAILED' }));
    await page.getByLabel('Event type').selectOption('message.failed');
    await eventually(shownIds).toEqual([failed[2].id, failed[0].id]);
    expect(page.url()).toMatch(/#\/deliveries\?webhook=wh_\w+&status=FAILED&type=message.failed$/);

    // A time range: from `middle` on, only the last one.
    await page.getByLabel('Event type').selectOption('');
    const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.getByLabel('From').fill(local(new Date(Math.ceil(middle.getTime() / 1000) * 1000)));
    await eventually(shownIds).toEqual([failed[2].id]);
    await page.getByLabel('From').fill('');
    await page.getByLabel('Until').fill(local(new Date(Math.ceil(middle.getTime() / 1000) * 1000)));
    await eventually(shownIds).toEqual([failed[1].id, failed[0].id]);
    await screenshot(page, 'portal-deliveries-filtered');
  });

  test('an answer for a filter no longer shown (a slow network) never replaces the newer one', async () => {
    await page.evaluate(() => (location.hash = '#/deliveries'));
    await eventually(shownIds).toEqual(await apiIds({}));
    // The network holds the answer for "FAILED" for 2 s on its way back; the "SUCCEEDED" one goes through.
    const slow = async (route: Route) => {
      if (!route.request().postData()?.includes('"status":"FAILED"')) return route.continue();
      const response = await route.fetch();
      await new Promise((resolve) => setTimeout(resolve, 2000));
      return route.fulfill({ response });
    };
    await page.route('**/graphql', slow);
    try {
      await page.getByLabel('Status').selectOption('FAILED');
      await page.getByLabel('Status').selectOption('SUCCEEDED');
      const succeeded = await apiIds({ status: 'SUCCEEDED' });
      await eventually(shownIds).toEqual(succeeded);
      await new Promise((resolve) => setTimeout(resolve, 2500));
      expect(await shownIds()).toEqual(succeeded);
    } finally {
      await page.unroute('**/graphql', slow);
    }
  });

  test('Replay failed re-queues the endpoint’s FAILED deliveries of the chosen time range, and they succeed live', async () => {
    await page.evaluate((id) => (location.hash = `#/deliveries?webhook=${id}`), bad.id);
    await eventually(shownIds).toEqual(failed.map((f) => f.id).reverse());
    // The receiver comes back; only the deliveries created from `middle` on are replayed.
    receiver.setHandler((_req, res) => res.writeHead(200).end('ok'));
    const local = (d: Date) => new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.getByLabel('From').fill(local(new Date(Math.ceil(middle.getTime() / 1000) * 1000)));
    await eventually(shownIds).toEqual([failed[2].id]);
    await page.getByRole('button', { name: 'Replay failed' }).click();
    const dialog = page.getByRole('dialog');
    await waitForText(dialog, bad.url);
    await dialog.getByRole('button', { name: 'Replay' }).click();
    await waitForText(page.locator('.notice'), '1 failed delivery queued again');
    await waitForText(deliveryRow(page, failed[2].id), 'SUCCEEDED');
    await waitForText(deliveryRow(page, failed[2].id), '2 attempts · HTTP 200');
    for (const f of failed.slice(0, 2)) expect((await waitForDelivery(h, tenant.key, f.id)).status).toBe('FAILED');
    receiver.setHandler((req, res) => res.writeHead(req.url === '/bad' ? 503 : 200).end());
  });

  test('Replay failed needs an endpoint chosen; Retry on a row makes one new attempt', async () => {
    await page.evaluate(() => (location.hash = '#/deliveries'));
    await page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem').first().waitFor();
    expect(await page.getByRole('button', { name: 'Replay failed' }).isDisabled()).toBe(true);
    const row = deliveryRow(page, failed[0].id);
    await row.getByRole('button', { name: 'Retry' }).click();
    await waitForText(row, '2 attempts · HTTP 503');
  });

  test('a delivery of a deleted endpoint offers no Retry, in the log and on its page, live and when read afresh', async () => {
    const url = `${receiver.url}/doomed`;
    const { id: webhookId } = await createWebhook(h, tenant.key, { url, events: ['campaign.completed'] });
    // And a delivery that SUCCEEDED before its endpoint was deleted: only its webhook tells.
    const { id: doneWebhookId } = await createWebhook(h, tenant.key, { url: `${receiver.url}/done`, events: ['campaign.sent'] });
    const done = await publish(h, tenant.key, { type: 'campaign.sent' });
    const [succeeded] = await listDeliveries(h, tenant.key, { eventId: done.eventId, webhookId: doneWebhookId });
    expect((await waitForDelivery(h, tenant.key, succeeded.id)).status).toBe('SUCCEEDED');
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: doneWebhookId }, tenant.key);
    await h.ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: webhookId }, tenant.key);
    const { eventId } = await publish(h, tenant.key, { type: 'campaign.completed' });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId });
    await page.evaluate(() => (location.hash = '#/deliveries'));
    const row = deliveryRow(page, delivery.id);
    await row.getByRole('button', { name: 'Retry' }).waitFor();
    await h.ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: webhookId }, tenant.key);
    await waitForText(row, 'CANCELLED');
    await waitForText(row, 'Endpoint deleted');
    expect(await row.getByRole('button', { name: 'Retry' }).count()).toBe(0);

    // Read afresh (the log's query, not the live update).
    await page.evaluate(() => (location.hash = '#/endpoints'));
    await page.evaluate(() => (location.hash = '#/deliveries'));
    for (const id of [delivery.id, succeeded.id]) {
      await waitForText(deliveryRow(page, id), 'Endpoint deleted');
      expect(await deliveryRow(page, id).getByRole('button', { name: 'Retry' }).count()).toBe(0);
    }
    await waitForText(deliveryRow(page, succeeded.id), 'SUCCEEDED');
    await page.evaluate((id) => (location.hash = `#/deliveries/${id}`), succeeded.id);
    await waitForText(page.locator('.delivery'), 'Its endpoint was deleted: it cannot be retried.');
    expect(await page.getByRole('button', { name: 'Retry' }).count()).toBe(0);
  });

  test('an endpoint the platform adds while the page is open is shown by its URL once its first delivery arrives', async () => {
    await page.evaluate(() => (location.hash = '#/deliveries'));
    const url = `${receiver.url}/added-later`;
    const { id } = await createWebhook(h, tenant.key, { url, events: ['campaign.started'] });
    const { eventId } = await publish(h, tenant.key, { type: 'campaign.started' });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: id });
    await waitForText(deliveryRow(page, delivery.id), url);
    await eventually(() => page.getByLabel('Endpoint').locator('option').allTextContents()).toContain(url);
  });

  test('"Load more" continues where the page ended, newest first, with no row twice', async () => {
    const inputs = Array.from({ length: 60 }, (_, i) => ({ type: 'message.queued', data: { n: i } }));
    await h.ok(PUBLISH_MANY, { inputs }, tenant.key);
    await page.evaluate((id) => (location.hash = `#/deliveries?webhook=${id}&type=message.queued`), good.id);
    const all = (
      await h.ok(
        'query($f: DeliveryFilter) { deliveries(first: 100, filter: $f) { edges { node { id } } } }',
        { f: { webhookId: good.id, eventType: 'message.queued' } },
        tenant.key,
      )
    ).deliveries.edges.map((e: any) => e.node.id);
    expect(all).toHaveLength(60);
    await eventually(shownIds).toEqual(all.slice(0, 50));
    await page.getByRole('button', { name: 'Load more' }).click();
    await eventually(shownIds).toEqual(all);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);
  });

  test('a row shows its endpoint’s URL cut in the middle, its path (/good, /bad) whole, at 1024 and at 375 px', async () => {
    await page.evaluate((type) => (location.hash = `#/deliveries?type=${type}`), 'message.sent');
    const rows = page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem');
    await eventually(() => rows.count()).toBe(2);
    for (const width of [1024, 375]) {
      await page.setViewportSize({ width, height: 800 });
      // What can be seen of each row's URL: its kept end whole, and nothing past the screen's edge.
      const shown = await rows.evaluateAll((items) =>
        items.map((item) => {
          const url = item.querySelector('.endpoint') as HTMLElement;
          const tail = url.querySelector('.tail') as HTMLElement;
          return {
            whole: url.textContent,
            title: url.title,
            tail: tail.textContent,
            tailClipped: tail.scrollWidth > tail.clientWidth,
            inside: url.getBoundingClientRect().right <= document.documentElement.clientWidth,
          };
        }),
      );
      expect(shown.map((s) => s.whole).sort()).toEqual([bad.url, good.url].sort());
      for (const s of shown) {
        expect(s).toMatchObject({ title: s.whole, tailClipped: false, inside: true });
        expect(s.tail).toBe(new URL(s.whole!).pathname);
      }
      await screenshot(page, `portal-deliveries-urls-${width}`);
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('an endpoint’s health counts its last 24 h of deliveries alike whether they still retry or gave up', async () => {
    receiver.setHandler((req, res) => res.writeHead(['/bad', '/down'].includes(req.url!) ? 503 : 200).end());
    const down = `${receiver.url}/down`; // retried on the default schedule: its deliveries stay RETRYING
    const { id } = await createWebhook(h, tenant.key, { url: down, events: ['device.connected'] });
    const { eventId } = await publish(h, tenant.key, { type: 'device.connected' });
    const [delivery] = await listDeliveries(h, tenant.key, { eventId, webhookId: id });
    await waitUntil(async () => (await getDelivery(h, tenant.key, delivery.id)).attemptCount === 1, { message: 'a failed first attempt' });
    const stats = async (webhookId: string) =>
      (await h.ok('query($id: ID!) { webhook(id: $id) { stats { deliveries24h succeeded24h failed24h } } }', { id: webhookId }, tenant.key))
        .webhook.stats;
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Endpoints' }).click();
    for (const [url, webhookId] of [
      [down, id],
      [bad.url, bad.id],
      [good.url, good.id],
    ]) {
      const { deliveries24h, succeeded24h, failed24h } = await stats(webhookId);
      const failedText = failed24h > 0 ? ` · ${failed24h} failed` : '';
      await waitForText(endpointRow(page, url), `Deliveries (24 h)${succeeded24h} of ${deliveries24h} succeeded${failedText}`);
    }
    // Still retrying: none succeeded and none failed yet (a rate of finished deliveries would have nothing to show).
    await waitForText(endpointRow(page, down), /Deliveries \(24 h\)0 of 1 succeeded(?! ·)/);
  });
});
