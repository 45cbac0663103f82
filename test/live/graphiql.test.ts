// GraphiQL, as served at /graphql, in headless Chromium (Debian's `chromium`): a subscription
// typed into its editor runs over WebSocket with GraphiQL's own graphql-ws client, an event is
// published from the page, and the update arrives in the page.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as graphiqlAssets from '@graphql-yoga/render-graphiql/graphiql';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { startReceiver, type Receiver } from '../helpers/receiver.ts';
import { CREATE_WEBHOOK } from './helpers.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));
const SUBSCRIPTION = 'subscription Live {\n  deliveryUpdated {\n    phase\n    delivery { id eventId status attemptCount }\n    attempt { number responseStatus durationMs }\n  }\n}';

let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h, 'graphiql');
  await h.ok(CREATE_WEBHOOK, { input: { url: `${receiver.url}/hook`, events: ['*'] } }, tenant.key);
});
afterAll(async () => {
  await h?.stop();
  await receiver?.close();
});

/**
 * The page yoga serves loads GraphiQL's script, styles and editor workers from unpkg.com.
 * Tests (and CI) reach no CDN, so the browser is handed the same files from the
 * `@graphql-yoga/render-graphiql` package; every other outside request is refused.
 */
const CDN_FILES: [RegExp, keyof typeof graphiqlAssets, string][] = [
  [/\/graphiql\.css$/, 'css', 'text/css'],
  [/\/yoga-graphiql\.umd\.js$/, 'js', 'application/javascript'],
  [/\/editor\.worker\.bundle\.js$/, 'editorWorkerService', 'application/javascript'],
  [/\/json\.worker\.bundle\.js$/, 'jsonWorker', 'application/javascript'],
  [/\/graphql\.worker\.\.bundle\.js$/, 'graphqlWorker', 'application/javascript'],
];

/**
 * GraphiQL's graphql-ws client sends `connectionParams` in connection_init, but yoga's GraphiQL
 * has no way to fill them from the page (its headers tab goes into each subscribe message's
 * `extensions.headers`; see the first test). This wraps `renderYogaGraphiQL` so that the
 * connection params are the active tab's headers, as GraphiQL persisted them: the headers tab
 * then authenticates the WebSocket exactly as DESIGN.md specifies.
 */
const HEADERS_AS_CONNECTION_PARAMS = `(() => {
  const activeTabHeaders = () => {
    try {
      const state = JSON.parse(localStorage.getItem('graphiql:tabState') || '{}');
      return JSON.parse(state.tabs[state.activeTabIndex].headers || '{}');
    } catch {
      return {};
    }
  };
  let lib;
  Object.defineProperty(window, 'YogaGraphiQL', {
    configurable: true,
    get: () => lib,
    set(value) {
      lib = value;
      let render;
      Object.defineProperty(value, 'renderYogaGraphiQL', {
        configurable: true,
        get: () => render && ((root, options) => render(root, { ...options, connectionParams: activeTabHeaders })),
        set: (fn) => (render = fn),
      });
    },
  });
})();`;

interface Frame {
  dir: 'sent' | 'received';
  message: { type: string; id?: string; payload?: any };
}

async function openBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    permissions: ['clipboard-read', 'clipboard-write'],
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  await context.route(
    (url) => url.hostname !== '127.0.0.1',
    async (route) => {
      const url = route.request().url();
      const file = url.startsWith('https://unpkg.com/@graphql-yoga/graphiql@') ? CDN_FILES.find(([pattern]) => pattern.test(url)) : undefined;
      if (!file) return route.abort();
      return route.fulfill({ status: 200, contentType: file[2], body: graphiqlAssets[file[1]] as string, headers: { 'access-control-allow-origin': '*' } });
    },
  );
  return {
    context,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Opens /graphql as a browser does (accept: text/html) and records the WebSocket frames. */
async function openGraphiQL(context: BrowserContext): Promise<{ page: Page; frames: Frame[]; sockets: { url: string; closed: boolean }[] }> {
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
  await setEditorText(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor', JSON.stringify(headers), 'Bearer hrld_');
  // GraphiQL persists the tab (query, headers) as it changes; wait until the headers are stored.
  await expect
    .poll(() => page.evaluate(() => localStorage.getItem('graphiql:tabState') ?? ''), { timeout: 10_000 })
    .toContain('Bearer hrld_');
  await page.getByRole('button', { name: /Execute query/ }).click();
}

/** Publishes an event with fetch from inside the page; returns its id. */
async function publishFromPage(page: Page, key: string): Promise<string> {
  return page.evaluate(async (key) => {
    const res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ query: 'mutation { publishEvent(input: { type: "message.delivered", data: { from: "graphiql" } }) { event { id } } }' }),
    });
    const body = await res.json();
    return body.data.publishEvent.event.id as string;
  }, key);
}

/** The text GraphiQL's result pane shows (Monaco renders non-breaking spaces). */
async function resultText(page: Page): Promise<string> {
  return ((await page.locator('.graphiql-response .view-lines').first().textContent()) ?? '').replace(/\u00a0/g, ' ');
}

describe.skipIf(!existsSync(CHROMIUM))('GraphiQL at /graphql in headless Chromium', () => {
  test('as served, GraphiQL’s WebSocket sends no key in connection_init, so Herald refuses it', async () => {
    // Documents the limitation the connection-params shim below works around: yoga's GraphiQL
    // sends its headers tab over HTTP and, for subscriptions, inside each subscribe message
    // (`extensions.headers`, see the next test), while connection_init stays empty.
    const browser = await openBrowser();
    try {
      const { page, frames, sockets } = await openGraphiQL(browser.context);
      await runSubscription(page, { authorization: `Bearer ${tenant.key}` });
      await expect.poll(() => sockets.length === 1 && sockets[0].closed, { timeout: 10_000 }).toBe(true);

      expect(sockets[0].url).toBe(h.url.replace(/^http/, 'ws'));
      // graphql-ws sends the subscribe only after the ack, which never came (closed with 4401).
      expect(frames).toEqual([{ dir: 'sent', message: { type: 'connection_init', payload: {} } }]);
      await expect.poll(() => resultText(page), { timeout: 10_000 }).toContain('"errors"');
    } finally {
      await browser.close();
    }
  }, 90_000);

  test('a subscription run in GraphiQL over WebSocket receives the update of an event published from the page', async () => {
    const browser = await openBrowser();
    await browser.context.addInitScript(HEADERS_AS_CONNECTION_PARAMS);
    try {
      const { page, frames, sockets } = await openGraphiQL(browser.context);
      await runSubscription(page, { authorization: `Bearer ${tenant.key}` });
      // GraphiQL's graphql-ws client connected with the key and was acknowledged.
      await expect.poll(() => frames.some((f) => f.dir === 'received' && f.message.type === 'connection_ack'), { timeout: 10_000 }).toBe(true);
      expect(frames[0]).toEqual({ dir: 'sent', message: { type: 'connection_init', payload: { authorization: `Bearer ${tenant.key}` } } });
      const subscribe = frames.find((f) => f.dir === 'sent' && f.message.type === 'subscribe')!;
      expect(subscribe.message.payload).toMatchObject({
        operationName: 'Live',
        query: expect.stringContaining('deliveryUpdated'),
        // Where yoga's GraphiQL puts the headers tab for a subscription.
        extensions: { headers: { authorization: `Bearer ${tenant.key}` } },
      });
      await new Promise((resolve) => setTimeout(resolve, 300)); // the server starts the subscription

      const eventId = await publishFromPage(page, tenant.key);
      // Every update arrives in the page over the WebSocket…
      await expect
        .poll(
          () =>
            frames
              .filter((f) => f.dir === 'received' && f.message.type === 'next' && f.message.payload.data?.deliveryUpdated.delivery.eventId === eventId)
              .map((f) => f.message.payload.data.deliveryUpdated.phase),
          { timeout: 15_000 },
        )
        .toEqual(['QUEUED', 'ATTEMPT_STARTED', 'ATTEMPT_FINISHED', 'SUCCEEDED']);
      // …and GraphiQL shows the latest one.
      await expect.poll(() => resultText(page), { timeout: 10_000 }).toContain('"SUCCEEDED"');
      const shown = await resultText(page);
      expect(shown).toContain(eventId);
      expect(shown).toContain('"responseStatus": 200');
      expect(sockets).toHaveLength(1);
      expect(sockets[0].closed).toBe(false);
      expect(receiver.requests.some((r) => r.headers['webhook-id'] === eventId)).toBe(true);

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, 'graphiql.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  }, 90_000);
});
