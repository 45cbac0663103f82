// Delivery profiles in the portal, in headless Chromium: the endpoint form offers the platform's
// profiles; the secret part follows the profile (none when unsigned, the endpoint's own, or one
// shared by the tenant's endpoints under a tenant-scoped profile — shown once when it is made,
// not when it already exists — and a receiver's existing secret imported); a delivery's detail
// shows its body exactly as the receiver got it.
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Browser, screenshot } from '../helpers/browser.ts';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { exampleProfile, hexHmacMatches, upsertProfile } from '../helpers/platforms.ts';
import { browserOnPortal, endpointRow, eventually, waitForText } from '../helpers/portal.ts';
import type { ReceivedRequest, Receiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver({ tenant: 'Profiles' }));
  for (const file of ['zautic', 'senderz', 'hub-unsigned']) await upsertProfile(h, exampleProfile(file));
  ({ browser, page } = await browserOnPortal(h, tenant.id));
});
afterAll(async () => {
  await browser?.close();
  await stopAll(h, receiver);
});

const WEBHOOKS = '{ webhooks { edges { node { url profile deliveryProfile } } } }';

async function storedWebhooks(): Promise<{ url: string; profile: string | null; deliveryProfile: string }[]> {
  return (await h.ok(WEBHOOKS, {}, tenant.key)).webhooks.edges.map((e: any) => e.node);
}

/** Opens the add form and fills the URL, all events and the profile; the caller saves. */
async function fillEndpoint(url: string, profile: string): Promise<void> {
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.getByLabel('Endpoint URL').fill(url);
  await page.getByRole('group', { name: 'Events' }).getByRole('checkbox', { name: 'All events' }).check();
  await page.getByLabel('Delivery profile').selectOption(profile);
}

async function save(): Promise<void> {
  await page.getByRole('button', { name: 'Save' }).click();
  await page.getByRole('heading', { name: 'Add an endpoint' }).waitFor({ state: 'detached' });
}

/** The notice after a test event was sent to `url`: its "View delivery" link. */
const endpointLink = (url: string) =>
  page
    .locator('.notice')
    .filter({ hasText: `Test event sent to ${url}` })
    .getByRole('link', { name: 'View delivery' });

/** Presses the row's "Send test event" and returns what its endpoint received. */
async function sendTest(url: string): Promise<ReceivedRequest> {
  const path = new URL(url).pathname;
  await endpointRow(page, url).getByRole('button', { name: 'Send test event' }).click();
  await endpointLink(url).waitFor();
  await eventually(() => receiver.requests.some((r) => r.url === path)).toBe(true);
  return receiver.requests.find((r) => r.url === path)!;
}

describe('delivery profiles in the portal', () => {
  test('the form offers every profile of the platform, the tenant’s default first', async () => {
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    const options = await page.getByLabel('Delivery profile').locator('option').allTextContents();
    expect(options).toEqual(['Default (standard)', 'standard', 'stripe', 'hmac-sha256', 'hub-unsigned', 'senderz', 'zautic']);
    // The default signs with the endpoint's own secret: the form offers to import one.
    await waitForText(page.locator('#signing-note'), 'its own signing secret');
    await page.getByLabel('Existing secret (optional)').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
  });

  test('an unsigned profile: no secret anywhere, and the receiver gets the profile’s body', async () => {
    const url = `${receiver.url}/portal-unsigned`;
    await fillEndpoint(url, 'hub-unsigned');
    await waitForText(page.locator('#signing-note'), 'not signed: there is no secret');
    expect(await page.getByLabel('Existing secret (optional)').count()).toBe(0);
    await save();
    await waitForText(page.locator('.notice'), 'its deliveries are not signed');
    expect(await page.getByRole('dialog').count()).toBe(0);
    const row = endpointRow(page, url);
    await waitForText(row, 'Not signed');
    expect(await row.getByRole('button', { name: 'Rotate secret' }).count()).toBe(0);
    expect(await storedWebhooks()).toContainEqual({ url, profile: 'hub-unsigned', deliveryProfile: 'hub-unsigned' });
    const request = await sendTest(url);
    expect(JSON.parse(request.body)).toEqual({ message: 'This is a test event from Herald.', webhookId: expect.stringMatching(/^wh_/) });
  });

  test('an imported secret signs the endpoint’s deliveries; a bad one is refused at its field and nothing is stored', async () => {
    const url = `${receiver.url}/portal-zautic`;
    await fillEndpoint(url, 'zautic');
    await waitForText(page.getByLabel('Delivery profile').locator('..'), 'Zautic (WhatsApp devices)');
    const field = page.getByLabel('Existing secret (optional)');
    await field.fill('too short');
    await page.getByRole('button', { name: 'Save' }).click();
    await eventually(() => field.getAttribute('aria-invalid')).toBe('true');
    await waitForText(field.locator('..'), '16 to 256 visible ASCII characters');
    expect((await storedWebhooks()).map((w) => w.url)).not.toContain(url);

    const imported = 'zk_live_the-receivers-own-secret-42';
    await field.fill(imported);
    await save();
    await waitForText(page.locator('.notice'), 'it signs with the secret you gave');
    expect(await page.getByRole('dialog').count()).toBe(0);
    expect(await page.content()).not.toContain(imported);
    await waitForText(endpointRow(page, url), 'Its own secret');

    // Zautic's receiver: t=<t>,v1=<hex of "<t>.<body>"> under the secret it already held.
    const request = await sendTest(url);
    const [, t, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(String(request.headers['x-zautic-signature']))!;
    expect(hexHmacMatches(v1, imported, `${t}.${request.body}`)).toBe(true);

    // The delivery's detail shows the body byte for byte as the receiver got it, not the event.
    await endpointLink(url).click();
    const body = page.getByLabel('Body as sent');
    await eventually(() => body.textContent()).toBe(request.body);
    await waitForText(page.locator('.delivery'), 'Delivery profile zautic');
    expect(JSON.parse(request.body)).toMatchObject({ type: 'webhook.test', livemode: true, data: { object: expect.any(Object) } });
    await screenshot(page, 'portal-delivery-profile-body');
    await page.getByRole('navigation', { name: 'Portal' }).getByRole('link', { name: 'Endpoints' }).click();
  });

  test('a tenant-scoped profile: the first endpoint makes the shared secret (shown once), the next one uses it', async () => {
    const first = `${receiver.url}/portal-senderz-1`;
    await fillEndpoint(first, 'senderz');
    await waitForText(page.locator('#signing-note'), 'One secret signs all your endpoints under senderz');
    await screenshot(page, 'portal-endpoint-form-tenant-secret');
    await save();
    const dialog = page.getByRole('dialog');
    await waitForText(dialog, 'your other endpoints under senderz');
    const shared = await dialog.getByLabel('Signing secret').inputValue();
    expect(shared).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await dialog.getByRole('button', { name: 'Done' }).click();
    await dialog.waitFor({ state: 'detached' });

    const second = `${receiver.url}/portal-senderz-2`;
    await fillEndpoint(second, 'senderz');
    await waitForText(page.getByLabel('Existing secret (optional)').locator('..'), 'Only while you have no endpoint under senderz yet');
    await save();
    await waitForText(page.locator('.notice'), 'it signs with the secret your endpoints under senderz share');
    expect(await page.getByRole('dialog').count()).toBe(0);
    await waitForText(endpointRow(page, second), 'Shared secret');

    // senderZ's receiver: hex HMAC of the raw body under the tenant's one secret, for both endpoints.
    for (const url of [first, second]) {
      const request = await sendTest(url);
      expect(hexHmacMatches(request.headers['x-senderz-signature'], shared, request.body)).toBe(true);
    }

    // Rotating on one endpoint says it re-keys all of them.
    await endpointRow(page, second).getByRole('button', { name: 'Rotate secret' }).click();
    await waitForText(page.getByRole('dialog'), 'every one of your endpoints under senderz');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
  });
});
