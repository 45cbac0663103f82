// What Herald sends for /portal over plain HTTP: the page with its security headers, the files it
// loads (all from Herald itself), and the code exchange's refusals.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTenant, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { exchange, portalLink } from '../helpers/portal.ts';

let h: TestHerald;
let base: string;

beforeAll(async () => {
  h = await startTestHerald();
  base = h.url.replace(/\/graphql$/, '');
});
afterAll(() => h?.stop());

/** The CSP as a map of directive → value. */
function directives(csp: string | null): Record<string, string> {
  return Object.fromEntries(
    (csp ?? '').split(';').map(
      (d) =>
        d
          .trim()
          .split(/\s+(.*)/s)
          .slice(0, 2) as [string, string],
    ),
  );
}

describe('GET /portal', () => {
  test('the page: HTML with a CSP that allows scripts only from Herald (and its import map by hash), and the other security headers', async () => {
    const res = await fetch(`${base}/portal`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('cache-control')).toBe('no-store');
    // No origin listed in HERALD_PORTAL_FRAME_ANCESTORS: nobody may frame it.
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    const csp = directives(res.headers.get('content-security-policy'));
    expect(csp['default-src']).toBe("'none'");
    expect(csp['frame-ancestors']).toBe("'none'");
    expect(csp['style-src']).toBe("'self'");
    expect(csp['connect-src']).toBe(`'self' ${base.replace(/^http/, 'ws')}`);
    expect(csp['base-uri']).toBe("'none'");
    const [self, hash, ...more] = csp['script-src'].split(' ');
    expect([self, more]).toEqual(["'self'", []]);
    expect(csp['script-src']).not.toContain('unsafe');

    // The one inline script is the import map, and the CSP names exactly its hash.
    const html = await res.text();
    const inline = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)];
    expect(inline).toHaveLength(1);
    expect(inline[0][0]).toMatch(/^<script type="importmap">/);
    expect(hash).toBe(`'sha256-${createHash('sha256').update(inline[0][1]).digest('base64')}'`);
    // Nothing is loaded from anywhere else, and nothing is styled inline.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/\sstyle=/);
  });

  test('every module the import map names and every file the page links is served from Herald, as JavaScript or CSS', async () => {
    const html = await (await fetch(`${base}/portal`)).text();
    const importMap = JSON.parse(/<script type="importmap">(.*?)<\/script>/s.exec(html)![1]);
    expect(Object.keys(importMap.imports).sort()).toEqual(['graphql-ws', 'htm', 'htm/preact', 'preact', 'preact/hooks']);
    const paths = [
      ...Object.values<string>(importMap.imports),
      ...[...html.matchAll(/(?:src|href)="(portal\/[^"]+)"/g)].map((m) => m[1]),
    ].map((p) => new URL(p, `${base}/portal`).href);
    expect(paths).toContain(`${base}/portal/app.js`);
    expect(paths).toContain(`${base}/portal/portal.css`);
    for (const url of paths) {
      const res = await fetch(url);
      expect(res.status, url).toBe(200);
      expect(res.headers.get('content-type'), url).toMatch(url.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
      const body = await res.text();
      // Relative imports (graphql-ws's own chunk) are served beside the module.
      for (const [, chunk] of body.matchAll(/\bfrom\s*["'](\.\/[\w.-]+\.m?js)["']/g)) {
        expect((await fetch(new URL(chunk, url))).status, `${chunk} of ${url}`).toBe(200);
      }
    }
    // The graphql-ws served is the package's own ES module build of its client, not a copy.
    const served = await (await fetch(new URL(importMap.imports['graphql-ws'], `${base}/portal`))).text();
    expect(served).toBe(readFileSync(new URL('../../node_modules/graphql-ws/dist/client.js', import.meta.url), 'utf8'));
  });

  test('files are revalidated with ETags: an unchanged file is 304', async () => {
    const first = await fetch(`${base}/portal/app.js`);
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const again = await fetch(`${base}/portal/app.js`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  test.each([
    ['/portal/nothing.js', 404],
    ['/portal/../package.json', 404],
    ['/portal/%2e%2e/package.json', 404],
    ['/portal/vendor/../../src/config.ts', 404],
    ['/portal/web/index.html', 404],
  ])('%s is %i: only the portal’s own files are served', async (path, status) => {
    const res = await fetch(`${base}${path}`);
    expect(res.status).toBe(status);
    expect(await res.text()).not.toMatch(/"name": "herald"|loadConfig/);
  });

  test('/portal/ is sent to /portal; POST /portal is 405', async () => {
    const res = await fetch(`${base}/portal/`, { redirect: 'manual' });
    expect(res.status).toBe(308);
    expect(new URL(res.headers.get('location')!, `${base}/portal/`).href).toBe(`${base}/portal`);
    expect((await fetch(`${base}/portal`, { method: 'POST' })).status).toBe(405);
  });
});

describe('POST /portal/session', () => {
  const post = (body: string, contentType = 'application/json') =>
    fetch(`${base}/portal/session`, { method: 'POST', headers: { 'content-type': contentType }, body });

  test('refuses what is not a JSON { code }: 415, 400, 413, 405; an unknown code is 401', async () => {
    expect((await post('code=x', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post('{"code":')).status).toBe(400);
    expect((await post('{"code": 42}')).status).toBe(400);
    expect((await post(JSON.stringify({ code: 'x'.repeat(10_000) }))).status).toBe(413);
    expect((await fetch(`${base}/portal/session`)).status).toBe(405);
    const unknown = await post(JSON.stringify({ code: 'hrldc_not-a-real-code' }));
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('cache-control')).toBe('no-store');
    expect(await unknown.json()).toEqual({
      errors: [
        {
          message: 'This portal link has expired, was revoked or was already used. Ask for a new one.',
          extensions: { code: 'UNAUTHORIZED' },
        },
      ],
    });
  });

  test('the session token is answered with no-store, and never in a Set-Cookie', async () => {
    const tenant = await createTenant(h, 'http');
    const link = await portalLink(h, { tenantId: tenant.id });
    const res = await post(JSON.stringify({ code: decodeURIComponent(new URL(link.url).hash.slice('#code='.length)) }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('set-cookie')).toBeNull();
    expect((await res.json()).token).toMatch(/^hrldp_/);
  });
});

describe('configuration', () => {
  test('HERALD_PUBLIC_URL is what links are built on (a path prefix kept); HERALD_PORTAL_FRAME_ANCESTORS is the CSP frame-ancestors', async () => {
    const other = await startTestHerald({
      HERALD_PUBLIC_URL: 'https://hooks.example.com/herald/',
      HERALD_PORTAL_FRAME_ANCESTORS: 'https://app.example.com, https://*.example.org:8443',
    });
    try {
      const tenant = await createTenant(other, 'public-url');
      const link = await portalLink(other, { tenantId: tenant.id });
      expect(link.url).toMatch(/^https:\/\/hooks\.example\.com\/herald\/portal#code=hrldc_/);
      // The link works against the server it names (here reached directly).
      expect((await exchange(link.url.replace('https://hooks.example.com/herald', other.url.replace(/\/graphql$/, '')))).status).toBe(200);

      const res = await fetch(other.url.replace(/\/graphql$/, '/portal'));
      expect(directives(res.headers.get('content-security-policy'))['frame-ancestors']).toBe(
        'https://app.example.com https://*.example.org:8443',
      );
      expect(res.headers.get('x-frame-options')).toBeNull();
    } finally {
      await other.stop();
    }
  });
});
