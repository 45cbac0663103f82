// GraphiQL, as served at /graphql, in headless Chromium (Debian's `chromium`), with every request
// that does not go to Herald (127.0.0.1) refused: the page must work on its own. A subscription
// typed into its editor, with the key in its Headers tab, runs over WebSocket with GraphiQL's own
// graphql-ws client, an event is published from the page, and the update arrives in the page.
import { createServer } from 'node:http';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { openBrowser, recordWebSocketCloses, screenshot, webSocketCloses } from '../helpers/browser.ts';
import { withPgClient } from '../helpers/db.ts';
import { createWebhook } from '../helpers/deliveries.ts';
import { startWithReceiver, stopAll, type Tenant, type TestHerald } from '../helpers/herald.ts';
import { wsUrlOf } from '../helpers/live.ts';
import type { Receiver } from '../helpers/receiver.ts';

const SUBSCRIPTION =
  'subscription Live {\n  deliveryUpdated {\n    phase\n    delivery { id eventId status attemptCount }\n    attempt { number responseStatus durationMs }\n  }\n}';

let h: TestHerald;
let receiver: Receiver;
let tenant: Tenant;

beforeAll(async () => {
  ({ h, tenant, receiver } = await startWithReceiver({ tenant: 'graphiql' }));
  await createWebhook(h, tenant.key, { url: `${receiver.url}/hook` });
});
afterAll(() => stopAll(h, receiver));

interface Frame {
  dir: 'sent' | 'received';
  message: { type: string; id?: string; payload?: any };
}

/** Opens /graphql as a browser does (accept: text/html) and records the WebSocket frames. */
async function openGraphiQL(
  context: BrowserContext,
): Promise<{ page: Page; frames: Frame[]; sockets: { url: string; closed: boolean }[] }> {
  await recordWebSocketCloses(context);
  const page = context.pages()[0] ?? (await context.newPage());
  const frames: Frame[] = [];
  const sockets: { url: string; closed: boolean }[] = [];
  page.on('websocket', (ws) => {
    const socket = { url: ws.url(), closed: false };
    sockets.push(socket);
    ws.on('framesent', (f) => frames.push({ dir: 'sent', message: JSON.parse(String(f.payload)) }));
    ws.on('framereceived', (f) => frames.push({ dir: 'received', message: JSON.parse(String(f.payload)) }));
    ws.on('close', () => (socket.closed = true));
  });
  const response = await page.goto(h.url, { waitUntil: 'load' });
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-type']).toMatch(/text\/html/);
  await page.waitForSelector('.graphiql-query-editor .monaco-editor', { timeout: 30_000 });
  return { page, frames, sockets };
}

/**
 * Replaces the whole text of a Monaco editor by pasting, as a user would (typed text would get
 * Monaco's auto-closed brackets and indentation); checks what the editor shows, and tries again
 * if the paste went astray (focus and clipboard are less dependable on a busy machine).
 */
async function setEditorText(page: Page, selector: string, text: string, shows: string): Promise<void> {
  const editor = page.locator(selector).first();
  await editor.waitFor({ state: 'visible' });
  const shown = async () => ((await editor.locator('.view-lines').textContent()) ?? '').replace(/\u00a0/g, ' ');
  for (let attempt = 1; ; attempt++) {
    await page.bringToFront();
    await page.evaluate((text) => navigator.clipboard.writeText(text), text);
    await editor.click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('ControlOrMeta+V');
    await page.keyboard.press('ControlOrMeta+Home');
    try {
      await expect.poll(shown, { timeout: 2_000 }).toContain(shows);
      return;
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

/** Types the subscription and the headers into GraphiQL's editors and presses Run. */
async function runSubscription(page: Page, headers: Record<string, string>): Promise<void> {
  await setEditorText(page, '.graphiql-query-editor .monaco-editor', SUBSCRIPTION, 'attempt { number responseStatus durationMs }');
  await page.getByRole('button', { name: 'Headers' }).click();
  const text = JSON.stringify(headers);
  await setEditorText(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor', text, text);
  // GraphiQL persists the tab (query, headers) as it changes; wait until these headers are stored.
  await expect
    .poll(
      () =>
        page.evaluate(() => {
          const state = JSON.parse(localStorage.getItem('graphiql:tabState') ?? '{}');
          return state.tabs?.[state.activeTabIndex]?.headers ?? null;
        }),
      { timeout: 10_000 },
    )
    .toBe(text);
  await page.getByRole('button', { name: /Execute query/ }).click();
}

/** Publishes an event with fetch from inside the page; returns its id. */
async function publishFromPage(page: Page, key: string): Promise<string> {
  return page.evaluate(async (key) => {
    const res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({
        query: 'mutation { publishEvent(input: { type: "message.delivered", data: { from: "graphiql" } }) { event { id } } }',
      }),
    });
    const body = await res.json();
    return body.data.publishEvent.event.id as string;
  }, key);
}

/** The text GraphiQL's result pane shows (Monaco renders non-breaking spaces). */
async function resultText(page: Page): Promise<string> {
  return ((await page.locator('.graphiql-response .view-lines').first().textContent()) ?? '').replace(/\u00a0/g, ' ');
}

describe('GraphiQL at /graphql in headless Chromium', () => {
  test('as served, with the key in its Headers tab, a subscription run in GraphiQL receives the updates of an event published from the page', async () => {
    const browser = await openBrowser();
    try {
      const { page, frames, sockets } = await openGraphiQL(browser.context);
      await runSubscription(page, { authorization: `Bearer ${tenant.key}` });
      // GraphiQL's graphql-ws client connects with no key (it has no way to send one)…
      await expect
        .poll(() => frames.some((f) => f.dir === 'received' && f.message.type === 'connection_ack'), { timeout: 10_000 })
        .toBe(true);
      expect(sockets.map((s) => s.url)).toEqual([wsUrlOf(h.url)]);
      expect(frames.slice(0, 2)).toEqual([
        { dir: 'sent', message: { type: 'connection_init', payload: {} } },
        { dir: 'received', message: { type: 'connection_ack' } },
      ]);
      // …and sends the Headers tab with the subscribe, which is what authenticates it.
      await expect.poll(() => frames.filter((f) => f.dir === 'sent' && f.message.type === 'subscribe').length, { timeout: 10_000 }).toBe(1);
      const subscribe = frames.find((f) => f.dir === 'sent' && f.message.type === 'subscribe')!;
      expect(subscribe.message.payload).toMatchObject({
        operationName: 'Live',
        query: expect.stringContaining('deliveryUpdated'),
        extensions: { headers: { authorization: `Bearer ${tenant.key}` } },
      });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the server starts the subscription

      const eventId = await publishFromPage(page, tenant.key);
      // Every update arrives in the page over the WebSocket…
      await expect
        .poll(
          () =>
            frames
              .filter((f) => f.dir === 'received' && f.message.type === 'next' && f.message.id === subscribe.message.id)
              .map((f) => [f.message.payload.data?.deliveryUpdated.delivery.eventId, f.message.payload.data?.deliveryUpdated.phase]),
          { timeout: 15_000 },
        )
        .toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED'].map((phase) => [eventId, phase]));
      // …and GraphiQL shows the latest one.
      await expect.poll(() => resultText(page), { timeout: 10_000 }).toContain('"SUCCEEDED"');
      const shown = await resultText(page);
      expect(shown).toContain(eventId);
      expect(shown).toContain('"responseStatus": 200');
      expect(shown).not.toContain('"errors"');
      expect(frames.filter((f) => f.dir === 'received' && (f.message.type === 'error' || f.message.payload?.errors))).toEqual([]);
      expect(sockets).toHaveLength(1);
      expect(sockets[0].closed).toBe(false);
      expect(await webSocketCloses(page)).toEqual([]);
      expect(receiver.requests.some((r) => r.headers['webhook-id'] === eventId)).toBe(true);
      // All of it without a single request leaving 127.0.0.1.
      expect(browser.outside).toEqual([]);

      // Its schema (the introspection query GraphiQL sends, within the limits) loads with the key.
      const introspected = page.waitForResponse(
        (r) => r.url() === h.url && r.request().method() === 'POST' && /IntrospectionQuery/.test(r.request().postData() ?? ''),
      );
      await page.getByRole('button', { name: 'Re-fetch GraphQL schema' }).click();
      const introspection = await introspected;
      expect(introspection.status()).toBe(200);
      const schema = await introspection.json();
      expect(schema.errors).toBeUndefined();
      expect(schema.data.__schema.types.map((t: { name: string }) => t.name)).toContain('DeliveryUpdate');

      await screenshot(page, 'graphiql');
    } finally {
      await browser.close();
    }
  }, 90_000);

  test('opened afresh it sends no authorization (no placeholder key to fail), and its editor says where the key goes', async () => {
    const browser = await openBrowser();
    try {
      const sent: { authorization: string | undefined; body: string }[] = [];
      browser.context.on('request', (r) => {
        if (r.url() === h.url && r.method() === 'POST') sent.push({ authorization: r.headers().authorization, body: r.postData() ?? '' });
      });
      const { page } = await openGraphiQL(browser.context);
      // GraphiQL asks for the schema at once, with whatever its Headers tab holds.
      await expect.poll(() => sent.some((r) => /IntrospectionQuery/.test(r.body)), { timeout: 15_000 }).toBe(true);
      expect(sent.map((r) => r.authorization)).toEqual(sent.map(() => undefined));
      const query = ((await page.locator('.graphiql-query-editor .view-lines').first().textContent()) ?? '').replace(/\u00a0/g, ' ');
      expect(query).toContain('{ "authorization": "Bearer hrld_…" }');
      expect(query).toContain('Headers tab');
    } finally {
      await browser.close();
    }
  }, 90_000);

  test('the same page without a key in its Headers tab has its WebSocket closed with 4401 and shows an error', async () => {
    const browser = await openBrowser();
    try {
      const { page, frames, sockets } = await openGraphiQL(browser.context);
      await runSubscription(page, {});
      await expect.poll(() => sockets.length === 1 && sockets[0].closed, { timeout: 10_000 }).toBe(true);

      // Connected and acknowledged as in the test above; the subscribe, without a key, is refused.
      expect(sockets[0].url).toBe(wsUrlOf(h.url));
      expect(frames.map((f) => [f.dir, f.message.type])).toEqual([
        ['sent', 'connection_init'],
        ['received', 'connection_ack'],
        ['sent', 'subscribe'],
      ]);
      expect(frames[2].message.payload).toMatchObject({ operationName: 'Live', query: expect.stringContaining('deliveryUpdated') });
      expect(JSON.stringify(frames[2].message.payload.extensions ?? {})).not.toMatch(/authorization/i);
      expect(await webSocketCloses(page)).toEqual([
        { url: wsUrlOf(h.url), code: 4401, reason: expect.stringMatching(/^Unauthorized: Missing authorization/) },
      ]);
      // GraphiQL shows the failure (the close event, as `errors`) instead of a result, and does not reconnect.
      await expect.poll(() => resultText(page), { timeout: 10_000 }).toContain('"errors"');
      const shown = await resultText(page);
      expect(shown).not.toContain('"deliveryUpdated"');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(sockets).toHaveLength(1);
      expect(browser.outside).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);

  test('a form on another origin posting a mutation to /graphql (a cross-site request forgery) is refused with CSRF_REFUSED', async () => {
    const mutation = 'mutation { createTenant(input: { name: "forged" }) { tenant { id } } }';
    const page = `<!doctype html><form method="post" action="${h.url}"><input name="query" value='${mutation}'></form>
      <script>document.forms[0].submit()</script>`;
    const site = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(page));
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    const browser = await openBrowser();
    try {
      const tab = browser.context.pages()[0] ?? (await browser.context.newPage());
      const answered = tab.waitForResponse((r) => r.url() === h.url);
      await tab.goto(`http://127.0.0.1:${(site.address() as { port: number }).port}/`);
      const response = await answered;
      expect(response.request().headers()['content-type']).toBe('application/x-www-form-urlencoded');
      expect(response.status()).toBe(403);
      expect(await response.json()).toMatchObject({ errors: [{ extensions: { code: 'CSRF_REFUSED' } }] });
      const forged = await withPgClient(h.databaseUrl, (c) => c.query(`select 1 from tenant where name = 'forged'`));
      expect(forged.rowCount).toBe(0);
    } finally {
      await browser.close();
      await new Promise((resolve) => site.close(resolve));
    }
  }, 90_000);
});
