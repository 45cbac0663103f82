import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the portal serves, read once at start. */
export interface Asset {
  body: Buffer;
  contentType: string;
  /** A strong validator: the content's hash (files change only with a new Herald). */
  etag: string;
}

/** The portal page and every file it loads, by path below `/portal/`; plus what the page's CSP must allow. */
export interface PortalAssets {
  /** The page itself (`/portal`), with its import map inlined. */
  page: Asset;
  /** `app.js`, `portal.css`, `vendor/preact.mjs`, …: relative to `/portal/`. */
  files: ReadonlyMap<string, Asset>;
  /** CSP source of the inline import map (`'sha256-…'`): the only inline script. */
  importMapHash: string;
}

const WEB_DIR = fileURLToPath(new URL('./web/', import.meta.url));

/**
 * The libraries the page imports by bare name, served from node_modules as the ES modules
 * their packages publish (resolved as Node resolves them for `import`): no bundler, no CDN.
 */
const VENDOR_MODULES: Record<string, string> = {
  preact: 'preact.mjs',
  'preact/hooks': 'preact-hooks.mjs',
  htm: 'htm.mjs',
  'htm/preact': 'htm-preact.mjs',
  'graphql-ws': 'graphql-ws/client.js',
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function asset(body: Buffer | string, name: string): Asset {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  const contentType = TYPES[path.extname(name)];
  if (!contentType) throw new Error(`portal: no content type for ${name}`);
  return { body: bytes, contentType, etag: `"${createHash('sha256').update(bytes).digest('base64url').slice(0, 27)}"` };
}

/** Relative imports (`./common-x.js`) of a published ES module: its own chunks, served beside it. */
function relativeImports(source: string): string[] {
  return [...source.matchAll(/\bfrom\s*["'](\.\/[\w.-]+\.m?js)["']/g)].map((m) => m[1].slice(2));
}

/** Reads the page, its scripts and styles, and the vendor modules with the chunks they import. */
export function loadPortalAssets(): PortalAssets {
  const files = new Map<string, Asset>();
  for (const entry of readdirSync(WEB_DIR, { withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'index.html' && TYPES[path.extname(entry.name)]) {
      files.set(entry.name, asset(readFileSync(path.join(WEB_DIR, entry.name)), entry.name));
    }
  }
  const imports: Record<string, string> = {};
  for (const [specifier, served] of Object.entries(VENDOR_MODULES)) {
    const file = fileURLToPath(import.meta.resolve(specifier));
    const source = readFileSync(file, 'utf8');
    files.set(`vendor/${served}`, asset(source, served));
    for (const chunk of relativeImports(source)) {
      files.set(
        `vendor/${path.posix.join(path.posix.dirname(served), chunk)}`,
        asset(readFileSync(path.join(path.dirname(file), chunk)), chunk),
      );
    }
    imports[specifier] = `./portal/vendor/${served}`;
  }
  const importMap = JSON.stringify({ imports });
  const template = readFileSync(path.join(WEB_DIR, 'index.html'), 'utf8');
  if (!template.includes('<!-- import map -->')) throw new Error('portal: index.html has no <!-- import map --> placeholder');
  const page = asset(template.replace('<!-- import map -->', `<script type="importmap">${importMap}</script>`), 'index.html');
  return { page, files, importMapHash: `'sha256-${createHash('sha256').update(importMap).digest('base64')}'` };
}
