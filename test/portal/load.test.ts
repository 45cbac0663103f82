// The portal under load, in headless Chromium: about 1 000 live updates a second for 10 s must
// not freeze the page (no long task over 200 ms; a click on Pause shows its result within 2 s),
// and when Herald drops the page as a slow consumer (4429, here because a slow network between
// them stops reading) the page reconnects and reads the log again.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, openBrowser, recordWebSocketCloses, screenshot, webSocketCloses } from '../helpers/browser.ts';
import { createWebhook, PUBLISH_MANY, updateWebhook } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { liveSubscribers, subscriptionsRunning } from '../helpers/live.ts';
import { endpointRow, eventually, liveStatus, openPortal, portalLink, waitForText } from '../helpers/portal.ts';
import { childEnv, type HeraldProcess, startHeraldProcess } from '../helpers/process.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';

/** Updates per delivery that succeeds at once: QUEUED, ATTEMPT_STARTED, ATTEMPT_FINISHED, SUCCEEDED. */
const UPDATES_PER_DELIVERY = 4;
const WEBHOOKS = 2;
const TARGET_UPDATES_PER_SECOND = 1000;
const EVENTS_PER_SECOND = TARGET_UPDATES_PER_SECOND / (UPDATES_PER_DELIVERY * WEBHOOKS);
const LOAD_MS = 10_000;
/**
 * A burst of updates far larger than what the TCP buffers between Herald and a stalled page hold
 * (4 to 8 MB here, 9 000 to 18 000 updates) plus what Herald lets wait for a subscriber (1 000
 * once it stops reading, 10 000 at most): 1 000 events to 20 endpoints, 26 000 updates.
 */
const BURST_WEBHOOKS = 18;
const BURST_EVENTS = 1000;

let h: TestHerald;
let receiver: Receiver;
let proxy: TcpProxy;
let served: HeraldProcess;
let browser: Browser;
let tenant: { id: string; key: string };
const hooks: { id: string; url: string }[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  // The page reaches Herald only through the proxy: portal links are built on it.
  proxy = await startTcpProxy();
  // The platform publishes through an API process of its own (here, in the test's process); the
  // portal is served by another Herald process, which also delivers, as operators run it.
  h = await startTestHerald({
    HERALD_ROLE: 'api',
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    HERALD_PUBLIC_URL: proxy.url,
  });
  served = await startHeraldProcess({ role: 'all', env: childEnv(h, { HERALD_PUBLIC_URL: proxy.url }) });
  proxy.setTarget(Number(new URL(served.url!).port));
  tenant = await createTenant(h, 'Load');
  for (let i = 0; i < WEBHOOKS; i++) {
    const url = `${receiver.url}/load-${i}`;
    hooks.push({ id: (await createWebhook(h, tenant.key, { url })).id, url });
  }
  browser = await openBrowser();
  await recordWebSocketCloses(browser.context);
  // Long tasks (main-thread work over 50 ms) and the live indicator's every change, as they happen.
  await browser.context.addInitScript(`(() => {
      const longTasks = [];
      Object.defineProperty(window, '__longTasks', { value: longTasks });
      new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push(Math.round(e.duration)); })
        .observe({ type: 'longtask', buffered: true });
      // Counted in the page: Playwright's own frame events would load the test process, which runs Herald.
      const updates = { count: 0 };
      Object.defineProperty(window, '__updates', { value: updates });
      const Native = window.WebSocket;
      window.WebSocket = class extends Native {
        constructor(...args) {
          super(...args);
          this.addEventListener('message', (e) => { if (e.data.includes('"deliveryUpdated"')) updates.count++; });
        }
      };
      const statuses = [];
      Object.defineProperty(window, '__liveStatuses', { value: statuses });
      new MutationObserver(() => {
        const text = document.querySelector('.live')?.textContent?.trim();
        if (text && statuses.at(-1) !== text) statuses.push(text);
      }).observe(document, { subtree: true, childList: true, characterData: true });
    })();`);
});
afterAll(async () => {
  await browser?.close();
  await served?.dispose();
  await h?.stop();
  await proxy?.close();
  await receiver?.close();
});

/**
 * Publishes `perSecond` events for `ms`, spread in steps of 100 ms (catching up if a call was
 * slow); resolves to how many were published.
 */
async function publishSteadily(perSecond: number, ms: number, until: () => boolean = () => false): Promise<number> {
  const started = Date.now();
  let published = 0;
  for (let elapsed = 0; elapsed < ms && !until(); elapsed = Date.now() - started) {
    const due = Math.min(Math.round(((elapsed + 100) / 1000) * perSecond), Math.round((ms / 1000) * perSecond)) - published;
    if (due > 0) {
      const inputs = Array.from({ length: due }, (_, i) => ({ type: 'message.delivered', channel: 'sms', data: { n: published + i } }));
      await h.ok(PUBLISH_MANY, { inputs }, tenant.key);
      published += due;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + elapsed + 100 - Date.now())));
  }
  return published;
}

/** How many deliveryUpdated results the page has received over its WebSockets (counted in the page). */
const updatesReceived = (page: Page): Promise<number> => page.evaluate(() => (window as any).__updates.count);

/** The `deliveries` queries the page sends, with when each was sent. */
function logReads(page: Page): number[] {
  const reads: number[] = [];
  page.on('request', (request) => {
    if (request.url().endsWith('/graphql') && request.postData()?.includes('query PortalDeliveries')) reads.push(Date.now());
  });
  return reads;
}

describe('the portal under load', () => {
  let page: Page;
  let reads: number[];

  test('10 s at about 1 000 updates a second: no long task over 200 ms, and Pause shows its result within 2 s', async () => {
    page = await browser.context.newPage();
    reads = logReads(page);
    const link = await portalLink(h, { tenantId: tenant.id });
    expect(link.url.startsWith(`${proxy.url}/portal#code=`)).toBe(true);
    await openPortal(page, link.url);
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Deliveries' }).click();
    await page.getByRole('region', { name: 'Deliveries' }).waitFor();
    await page.evaluate(() => (window as any).__longTasks.splice(0));

    const start = Date.now();
    const countAtStart = await updatesReceived(page);
    let pauseShownMs = -1;
    let answeredMs = -1;
    const load = publishSteadily(EVENTS_PER_SECOND, LOAD_MS);
    const clicks = (async () => {
      // Half-way through, go to the endpoints and pause one while the updates keep coming.
      await new Promise((resolve) => setTimeout(resolve, LOAD_MS / 2));
      await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Endpoints' }).click();
      const row = endpointRow(page, hooks[0].url);
      const pause = row.getByRole('button', { name: 'Pause' });
      await pause.waitFor();
      const answered = page.waitForResponse((r) => r.request().postData()?.includes('mutation PortalUpdateWebhook') ?? false);
      const clicked = Date.now();
      await pause.click();
      await answered;
      answeredMs = Date.now() - clicked;
      await row.getByRole('button', { name: 'Resume' }).waitFor({ timeout: 10_000 });
      await waitForText(row.locator('.badge'), 'PAUSED', 10_000);
      pauseShownMs = Date.now() - clicked;
      await screenshot(page, 'portal-load-endpoints');
      await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Deliveries' }).click();
    })();
    const [published] = await Promise.all([load, clicks]);
    const seconds = (Date.now() - start) / 1000;
    // Let the last updates arrive, then read what the page went through.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const received = (await updatesReceived(page)) - countAtStart;
    const longTasks: number[] = await page.evaluate(() => (window as any).__longTasks);
    console.info(
      `portal load: ${published} events in ${seconds.toFixed(1)} s, page received ${received} updates ` +
        `(${Math.round(received / seconds)}/s); Pause answered after ${answeredMs} ms, shown after ${pauseShownMs} ms; long tasks ${JSON.stringify(longTasks)}`,
    );
    expect(pauseShownMs).toBeGreaterThan(0);
    expect(pauseShownMs).toBeLessThan(2000);
    expect(Math.max(0, ...longTasks)).toBeLessThan(200);
    // About 1 000 a second reached the page (a paused endpoint's deliveries stop after QUEUED).
    expect(received / seconds).toBeGreaterThan(TARGET_UPDATES_PER_SECOND * 0.7);
    expect(await liveStatus(page).textContent()).toBe('Live');
    expect(await webSocketCloses(page)).toEqual([]);
    // The log shows the newest deliveries, and the paused endpoint's are PENDING.
    const newest = (await h.ok('{ deliveries(first: 1) { edges { node { id } } } }', {}, tenant.key)).deliveries.edges[0].node.id;
    await page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem', { name: newest }).waitFor();
    await screenshot(page, 'portal-load-deliveries');
  }, 90_000);

  test('dropped as a slow consumer (4429), the page shows it is reconnecting, reconnects and reads the log again', async () => {
    // A page just opened: its connection's TCP buffers are still small, so they fill quickly.
    await page?.close();
    page = await browser.context.newPage();
    reads = logReads(page);
    await openPortal(page, (await portalLink(h, { tenantId: tenant.id })).url);
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Deliveries' }).click();
    await page.getByRole('region', { name: 'Deliveries' }).waitFor();
    await eventually(() => reads.length).toBe(1);
    await page.evaluate(() => (window as any).__liveStatuses.splice(0));
    const readsBefore = reads.length;
    // Paused endpoints: each event queues a delivery for each (one update each, no sending), so
    // a burst of events is many updates at once.
    for (let i = 0; i < BURST_WEBHOOKS; i++) {
      const { id } = await createWebhook(h, tenant.key, { url: `${receiver.url}/burst-${i}` });
      await updateWebhook(h, tenant.key, id, { status: 'PAUSED' });
    }
    // The network stops carrying what Herald sends; Herald's writes fill the TCP buffers, then
    // updates wait for the page in Herald, and past its bound Herald closes it with 4429.
    const runningBefore = (await liveSubscribers(served.url!))!;
    proxy.stallWebSockets();
    const stalledAt = Date.now();
    const inputs = Array.from({ length: 250 }, (_, i) => ({ type: 'message.sent', channel: 'sms', data: { burst: i } }));
    for (let i = 0; i < BURST_EVENTS / inputs.length; i++) await h.ok(PUBLISH_MANY, { inputs }, tenant.key);
    // Herald drops the page's deliveries subscription 2 s after more than 1 000 updates wait for
    // it (the gauge falls at once; the connection's close frame waits behind the stalled data):
    // resume once it has (a fixed pause could end before a loaded machine got there), and at
    // the latest 10 s after the stall, before the page's keep-alive ping (every 10 s) goes
    // unanswered. Not dropped by then: resume anyway, and the 4429 expected below fails.
    while (Date.now() < stalledAt + 10_000 && (await liveSubscribers(served.url!))! >= runningBefore) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    console.info(`portal 4429: ${runningBefore} subscriptions before the stall, resumed ${Date.now() - stalledAt} ms after it`);
    proxy.resumeWebSockets();

    await expect.poll(async () => (await webSocketCloses(page)).map((c) => c.code), { timeout: 30_000 }).toContain(4429);
    const close = (await webSocketCloses(page)).find((c) => c.code === 4429)!;
    expect(close.reason).toMatch(/too slow/i);
    await expect.poll(() => liveStatus(page).textContent(), { timeout: 15_000 }).toBe('Live');
    const statuses: string[] = await page.evaluate(() => (window as any).__liveStatuses);
    expect(statuses).toEqual(expect.arrayContaining(['Reconnecting…', 'Live']));
    expect(statuses.indexOf('Reconnecting…')).toBeLessThan(statuses.lastIndexOf('Live'));
    // Read again after the reconnection, and showing the newest delivery.
    await expect.poll(() => reads.length, { timeout: 10_000 }).toBeGreaterThan(readsBefore);
    const newest = (await h.ok('{ deliveries(first: 1) { edges { node { id } } } }', {}, tenant.key)).deliveries.edges[0].node.id;
    await page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem', { name: newest }).waitFor({ timeout: 15_000 });
    // And live again: a new event's delivery appears without another read. The page restarts its
    // two subscriptions (deliveries, endpoints) on its own timers; wait until Herald runs both
    // (graphql-ws does not acknowledge a subscribe) before causing the event.
    await subscriptionsRunning(served.url!, 2);
    const readsAfter = reads.length;
    const { publishEvents } = await h.ok(PUBLISH_MANY, { inputs: [{ type: 'message.read', data: { after: 'reconnect' } }] }, tenant.key);
    const { deliveries } = await h.ok(
      'query($e: ID) { deliveries(filter: { eventId: $e }) { edges { node { id } } } }',
      { e: publishEvents[0].event.id },
      tenant.key,
    );
    const ids = deliveries.edges.map((e: any) => e.node.id);
    for (const id of ids)
      await page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem', { name: id }).waitFor({ timeout: 15_000 });
    expect(reads.length).toBe(readsAfter);
    expect(browser.outside).toEqual([]);
  }, 90_000);
});
