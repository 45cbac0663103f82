// Who gets into the portal, and what they see: expired, revoked and reused links are refused; a
// read-only session has no enabled mutation control and the API refuses its mutations; tenant A's
// session never sees tenant B; the page works inside an iframe of a listed origin on another site
// (a page on localhost framing Herald on 127.0.0.1) and nowhere else.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, openBrowser, screenshot } from '../helpers/browser.ts';
import { createWebhook, publish, waitForDelivery } from '../helpers/deliveries.ts';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import {
  deliveryRow,
  endpointRow,
  exchange,
  liveStatus,
  MUTATION_BUTTONS,
  openPortal,
  portalLink,
  waitForText,
} from '../helpers/portal.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let a: { id: string; key: string };
let b: { id: string; key: string };
/** Pages that frame whatever `?src=` names: one on an origin Herald lists, one on an origin it does not. */
let listed: Server;
let unlisted: Server;
let browser: Browser;

function framingServer(): Promise<Server> {
  const server = createServer((req, res) => {
    const src = new URL(req.url ?? '/', 'http://localhost').searchParams.get('src') ?? '';
    const escaped = src.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Platform dashboard</title><h1>Platform dashboard</h1>
      <iframe title="Webhooks" src="${escaped}" allow="clipboard-write" width="1200" height="900"></iframe>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}
const originOf = (server: Server) => `http://localhost:${(server.address() as AddressInfo).port}`;

beforeAll(async () => {
  receiver = await startReceiver();
  listed = await framingServer();
  unlisted = await framingServer();
  h = await startTestHerald({
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    HERALD_PORTAL_FRAME_ANCESTORS: originOf(listed),
  });
  a = await createTenant(h, 'Tenant A');
  b = await createTenant(h, 'Tenant B');
  browser = await openBrowser({ hosts: ['127.0.0.1', 'localhost'] });
});
afterAll(async () => {
  await browser?.close();
  await h?.stop();
  await receiver?.close();
  for (const server of [listed, unlisted]) server?.close();
});

async function newPage(): Promise<Page> {
  return browser.context.newPage();
}

/** The sign-in page's alert after a refused link. */
async function expectRefused(page: Page): Promise<void> {
  await waitForText(page.getByRole('alert'), 'This portal link has expired, was revoked or was already used.');
  await page.getByLabel('API key').waitFor();
  expect(await page.getByRole('heading', { name: 'Endpoints' }).count()).toBe(0);
  expect(page.url()).not.toContain('code=');
}

describe('portal links', () => {
  test('an expired link, a revoked link and a link already used are refused; the first page keeps its session', async () => {
    const expired = await portalLink(h, { tenantId: a.id, expiresInSeconds: 1 });
    const revoked = await portalLink(h, { tenantId: a.id });
    await h.ok('mutation($id: ID!) { revokePortalSession(id: $id) { id } }', { id: revoked.id });
    const used = await portalLink(h, { tenantId: a.id });
    await new Promise((resolve) => setTimeout(resolve, 1100));

    const page = await newPage();
    for (const link of [expired, revoked]) {
      await page.goto(link.url);
      await expectRefused(page);
    }
    await screenshot(page, 'portal-link-refused');

    const first = await newPage();
    await openPortal(first, used.url);
    await page.goto(used.url);
    await expectRefused(page);
    // The page that opened it is unaffected.
    await first.getByRole('link', { name: 'Deliveries' }).click();
    await first.getByRole('region', { name: 'Deliveries' }).waitFor();
    expect(await liveStatus(first).textContent()).toBe('Live');
    await Promise.all([page.close(), first.close()]);
  });
});

describe('a session ending while its page is open', () => {
  test('revoked: within 5 s the page says so and returns to sign-in; expired: the same at its expiry', async () => {
    const revoked = await portalLink(h, { tenantId: a.id });
    const expiring = await portalLink(h, { tenantId: a.id, expiresInSeconds: 4 });
    const [first, second] = [await newPage(), await newPage()];
    await openPortal(first, revoked.url);
    await openPortal(second, expiring.url);

    const revokedAt = Date.now();
    await h.ok('mutation($id: ID!) { revokePortalSession(id: $id) { id } }', { id: revoked.id }, a.key);
    await waitForText(first.getByRole('alert'), 'Your session has ended', 5000);
    expect(Date.now() - revokedAt).toBeLessThan(5000);
    await first.getByLabel('API key').waitFor();
    expect(await first.getByRole('heading', { name: 'Endpoints' }).count()).toBe(0);
    await screenshot(first, 'portal-session-ended');

    await waitForText(second.getByRole('alert'), 'Your session has expired. Open a new portal link to continue.', 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(new Date(expiring.expiresAt).getTime() - 100);
    await Promise.all([first.close(), second.close()]);
  });
});

describe('signing in with an API key', () => {
  test('a tenant key signs in as its tenant; the admin key and unknown keys are refused', async () => {
    const page = await newPage();
    await page.goto(h.url.replace(/\/graphql$/, '/portal'));
    const signIn = async (key: string) => {
      await page.getByLabel('API key').fill(key);
      await page.getByRole('button', { name: 'Sign in' }).click();
    };
    await signIn(h.adminKey);
    await waitForText(page.getByRole('alert'), 'This is not a tenant API key');
    await signIn('hrld_not-a-key');
    await waitForText(page.getByRole('alert'), 'Unknown or revoked API key');
    await signIn(b.key);
    await page.getByRole('heading', { name: 'Endpoints', level: 1 }).waitFor();
    await waitForText(page.locator('header'), 'Tenant B');
    await expect.poll(() => liveStatus(page).textContent(), { timeout: 15_000 }).toBe('Live');
    await page.close();
  });
});

describe('a read-only session', () => {
  test('has no enabled mutation control, and the API refuses the mutation a forced control sends', async () => {
    const webhook = await createWebhook(h, a.key, { url: `${receiver.url}/read-only` });
    const { eventId } = await publish(h, a.key, { data: { readOnly: true } });
    const [{ id: deliveryId }] = (
      await h.ok('query($e: ID) { deliveries(filter: { eventId: $e }) { edges { node { id } } } }', { e: eventId }, a.key)
    ).deliveries.edges.map((e: any) => e.node);
    await waitForDelivery(h, a.key, deliveryId);

    const page = await newPage();
    await openPortal(page, (await portalLink(h, { tenantId: a.id, readOnly: true })).url);
    await waitForText(page.locator('header'), 'Read-only');
    const row = endpointRow(page, `${receiver.url}/read-only`);
    await row.waitFor();

    /** Every mutation button on the page: present ones must all be disabled. */
    const enabledMutations = async () => {
      const enabled: string[] = [];
      for (const name of MUTATION_BUTTONS) {
        for (const button of await page.getByRole('button', { name, exact: true }).all()) {
          if (await button.isEnabled()) enabled.push(name);
        }
      }
      return enabled;
    };
    const seen = new Set<string>();
    const visit = async () => {
      for (const name of MUTATION_BUTTONS) if (await page.getByRole('button', { name, exact: true }).count()) seen.add(name);
      expect(await enabledMutations()).toEqual([]);
    };
    await visit();
    await page.evaluate((hash) => (location.hash = hash), `#/deliveries?webhook=${webhook.id}`);
    await deliveryRow(page, deliveryId).waitFor();
    await visit();
    await page.evaluate((hash) => (location.hash = hash), `#/deliveries/${deliveryId}`);
    await page.getByRole('heading', { name: `Delivery ${deliveryId}` }).waitFor();
    await visit();
    expect([...seen].sort()).toEqual(
      ['Add endpoint', 'Delete', 'Pause', 'Replay failed', 'Retry', 'Rotate secret', 'Send test event'].sort(),
    );
    await screenshot(page, 'portal-read-only');

    // A control forced back on still gets nowhere: the API says FORBIDDEN and the page shows it.
    await page.evaluate((hash) => (location.hash = hash), '#/endpoints');
    const pause = row.getByRole('button', { name: 'Pause' });
    await pause.evaluate((button) => button.removeAttribute('disabled'));
    await pause.click();
    await waitForText(page.getByRole('alert'), 'This portal session is read-only');
    expect((await h.ok('query($id: ID!) { webhook(id: $id) { status } }', { id: webhook.id }, a.key)).webhook.status).toBe('ACTIVE');
    await page.close();
  });
});

describe('tenant isolation', () => {
  test('tenant A’s session never sees tenant B’s endpoints or deliveries, read or live', async () => {
    const aUrl = `${receiver.url}/isolation-a`;
    const bUrl = `${receiver.url}/isolation-b`;
    await createWebhook(h, a.key, { url: aUrl });
    await createWebhook(h, b.key, { url: bUrl });
    const bOld = await publish(h, b.key, { data: { tenant: 'b' } });

    const page = await newPage();
    await openPortal(page, (await portalLink(h, { tenantId: a.id })).url);
    await endpointRow(page, aUrl).waitFor();
    expect(await endpointRow(page, bUrl).count()).toBe(0);
    expect(await page.locator('main').textContent()).not.toContain('isolation-b');

    await page.evaluate(() => (location.hash = '#/deliveries'));
    const log = page.getByRole('region', { name: 'Deliveries' });
    await log.waitFor();
    const options = await page.getByLabel('Endpoint').locator('option').allTextContents();
    expect(options).toContain(aUrl);
    expect(options).not.toContain(bUrl);

    // Live: B's deliveries never show up; A's do.
    const bNew = await publish(h, b.key, { data: { tenant: 'b' } });
    const aNew = await publish(h, a.key, { data: { tenant: 'a' } });
    const aDelivery = (
      await h.ok('query($e: ID) { deliveries(filter: { eventId: $e }) { edges { node { id } } } }', { e: aNew.eventId }, a.key)
    ).deliveries.edges;
    for (const { node } of aDelivery) await waitForText(deliveryRow(page, node.id), 'SUCCEEDED');
    const bIds = [];
    for (const event of [bOld, bNew]) {
      const { deliveries } = await h.ok(
        'query($e: ID) { deliveries(filter: { eventId: $e }) { edges { node { id } } } }',
        { e: event.eventId },
        b.key,
      );
      bIds.push(...deliveries.edges.map((e: any) => e.node.id));
    }
    expect(bIds.length).toBeGreaterThan(0);
    const shown = await log.getByRole('listitem').evaluateAll((rows) => rows.map((r) => r.getAttribute('aria-label')));
    for (const id of bIds) expect(shown).not.toContain(id);

    // Asking for B's delivery by its id finds nothing.
    await page.evaluate((hash) => (location.hash = hash), `#/deliveries/${bIds[0]}`);
    await page.getByRole('heading', { name: 'Delivery not found' }).waitFor();
    await page.close();
  });
});

describe('embedding', () => {
  test('a listed origin on another site (localhost) frames the portal on 127.0.0.1: it signs in, works and stays live', async () => {
    const hookUrl = `${receiver.url}/framed`;
    const link = await portalLink(h, { tenantId: a.id });
    const page = await newPage();
    await page.goto(`${originOf(listed)}/?src=${encodeURIComponent(link.url)}`);
    const frame = page.frameLocator('iframe[title="Webhooks"]');
    await frame.getByRole('heading', { name: 'Endpoints', level: 1 }).waitFor({ timeout: 15_000 });
    await expect.poll(() => frame.getByRole('status', { name: /^Live updates/ }).textContent(), { timeout: 15_000 }).toBe('Live');

    await frame.getByRole('button', { name: 'Add endpoint' }).click();
    await frame.getByLabel('Endpoint URL').fill(hookUrl);
    await frame.getByRole('group', { name: 'Events' }).getByRole('checkbox', { name: 'All events' }).check();
    await frame.getByRole('button', { name: 'Save' }).click();
    const secret = await frame.getByRole('dialog').getByLabel('Signing secret').inputValue();
    expect(secret).toMatch(/^whsec_/);
    await frame.getByRole('dialog').getByRole('button', { name: 'Done' }).click();

    const row = frame.getByRole('listitem', { name: hookUrl, exact: true });
    await row.getByRole('button', { name: 'Send test event' }).click();
    await frame.getByRole('link', { name: 'View delivery' }).click();
    await waitForText(frame.locator('.facts'), 'SUCCEEDED');
    await waitForText(frame.getByRole('listitem', { name: 'Attempt 1' }), 'HTTP 200');
    expect(receiver.requests.some((r) => r.url === '/framed')).toBe(true);
    // Across sites there are no cookies to rely on, and the portal sets none.
    expect(await browser.context.cookies()).toEqual([]);
    await screenshot(page, 'portal-embedded');
    await page.close();
  });

  test('an origin not listed cannot frame it: the browser refuses to show the page, and its link stays unspent', async () => {
    const link = await portalLink(h, { tenantId: a.id });
    const page = await newPage();
    const refusals: string[] = [];
    page.on('console', (message) => {
      if (message.text().includes('frame-ancestors')) refusals.push(message.text());
    });
    await page.goto(`${originOf(unlisted)}/?src=${encodeURIComponent(link.url)}`);
    await page.getByRole('heading', { name: 'Platform dashboard' }).waitFor();
    await expect.poll(() => refusals.length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(refusals[0]).toContain(`frame-ancestors ${originOf(listed)}`);
    const framed = page.frames().find((f) => f !== page.mainFrame());
    expect(framed?.url()).not.toContain('/portal');
    expect(await page.frameLocator('iframe').getByRole('heading', { name: 'Endpoints' }).count()).toBe(0);
    // No portal code ran in it: the link was never spent.
    expect((await exchange(link.url)).status).toBe(200);
    await screenshot(page, 'portal-frame-refused');
    await page.close();
  });
});
