import type { Locator, Page } from 'playwright-core';
import { expect } from 'vitest';
import { type Browser, openBrowser } from './browser.ts';
import type { TestHerald } from './herald.ts';

export const CREATE_PORTAL_SESSION = `mutation($input: CreatePortalSessionInput!) {
  createPortalSession(input: $input) { id url expiresAt readOnly }
}`;

export interface PortalLink {
  id: string;
  url: string;
  expiresAt: string;
  readOnly: boolean;
}

/** A portal link made as a platform's backend makes it (the admin key naming the tenant, unless `key` is a tenant's). */
export async function portalLink(
  h: TestHerald,
  input: { tenantId?: string; expiresInSeconds?: number; readOnly?: boolean },
  key: string = h.adminKey,
): Promise<PortalLink> {
  return (await h.ok(CREATE_PORTAL_SESSION, { input }, key)).createPortalSession;
}

/** Spends a link's code as the page does (`POST /portal/session`); returns the HTTP status, Retry-After and body. */
export async function exchange(
  link: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; retryAfter: string | null; body: any }> {
  const url = new URL(link);
  const code = decodeURIComponent(url.hash.replace(/^#code=/, ''));
  const res = await fetch(new URL('/portal/session', url), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ code }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

/** The live indicator in the portal's header. */
export const liveStatus = (page: Page): Locator => page.getByRole('status', { name: /^Live updates/ });

/** Opens a portal link and waits until the page is signed in and live. */
export async function openPortal(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await page.getByRole('heading', { name: 'Endpoints', level: 1 }).waitFor({ timeout: 15_000 });
  await page.getByRole('status', { name: 'Live updates: Live', exact: true }).waitFor({ timeout: 15_000 });
}

/** A fresh browser with one page signed in to `tenantId`'s portal through a link. */
export async function browserOnPortal(h: TestHerald, tenantId: string): Promise<{ browser: Browser; page: Page }> {
  const browser = await openBrowser();
  const page = await browser.context.newPage();
  await openPortal(page, (await portalLink(h, { tenantId })).url);
  return { browser, page };
}

/**
 * `expect.poll` with time for a loaded machine (its default gives up after 1 s): what the page
 * shows after a request or a live update.
 */
export const eventually = <T>(read: () => T | Promise<T>, timeout = 15_000) => expect.poll(read, { timeout });

/** Waits until a locator's text (spaces collapsed) contains `text`. */
export async function waitForText(locator: Locator, text: string | RegExp, timeout = 15_000): Promise<void> {
  const read = async () => ((await locator.textContent({ timeout: 1_000 }).catch(() => null)) ?? '').replace(/\s+/g, ' ');
  if (typeof text === 'string') await expect.poll(read, { timeout }).toContain(text);
  else await expect.poll(read, { timeout }).toMatch(text);
}

/** The endpoint row named by its URL. */
export const endpointRow = (page: Page, url: string): Locator => page.getByRole('listitem', { name: url, exact: true });

/** The log row of a delivery, named by its id, inside the "Deliveries" region. */
export const deliveryRow = (page: Page, id: string): Locator =>
  page.getByRole('region', { name: 'Deliveries' }).getByRole('listitem', { name: id, exact: true });

/** The buttons the issue lists as the portal's mutation controls. */
export const MUTATION_BUTTONS = [
  'Add endpoint',
  'Save',
  'Send test event',
  'Retry',
  'Replay failed',
  'Rotate secret',
  'Pause',
  'Resume',
  'Delete',
];
