// Headless Chromium (Debian's `chromium`) through playwright-core, for the pages Herald serves.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Screenshots written by the test run (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../artifacts/', import.meta.url));

export interface Browser {
  context: BrowserContext;
  /** Every request the pages made to a host not allowed (each was refused). */
  outside: string[];
  close(): Promise<void>;
}

export interface BrowserOptions {
  /** Hosts the pages may reach; any other request is refused and recorded. Default: 127.0.0.1 only. */
  hosts?: string[];
  viewport?: { width: number; height: number };
}

/**
 * A fresh browser profile with clipboard access, in which nothing but the allowed hosts can be
 * reached: a page that needs a CDN, a font or anything else from elsewhere fails visibly.
 */
export async function openBrowser(options: BrowserOptions = {}): Promise<Browser> {
  // A missing browser fails the browser tests loudly rather than skipping them.
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install chromium), as the README's Tests section says`);
  const hosts = new Set(options.hosts ?? ['127.0.0.1']);
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'herald-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: options.viewport ?? { width: 1400, height: 900 },
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
  const outside: string[] = [];
  await context.route(
    (url) => !hosts.has(url.hostname),
    (route) => {
      outside.push(route.request().url());
      return route.abort();
    },
  );
  return {
    context,
    outside,
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/** Writes a full-page screenshot to test/artifacts/<name>.png; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/**
 * Records, in the page, how each WebSocket closed (code and reason), which Playwright does not
 * report. Observation only: the sockets behave as the browser's own.
 */
const RECORD_WEBSOCKET_CLOSES = `(() => {
  const closes = [];
  Object.defineProperty(window, '__heraldWsCloses', { value: closes });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('close', (event) => closes.push({ url: this.url, code: event.code, reason: event.reason }));
    }
  };
})();`;

/** Makes every page of `context` record its WebSocket closes (read them with webSocketCloses). */
export async function recordWebSocketCloses(context: BrowserContext): Promise<void> {
  await context.addInitScript(RECORD_WEBSOCKET_CLOSES);
}

/** How the page's WebSockets closed, in order. */
export function webSocketCloses(page: Page): Promise<{ url: string; code: number; reason: string }[]> {
  return page.evaluate(() => (window as any).__heraldWsCloses);
}
