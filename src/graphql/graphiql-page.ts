import { Worker } from 'node:worker_threads';
import type { GraphiQLOptions } from 'graphql-yoga';

/** The module that renders the page: the only one that imports @graphql-yoga/render-graphiql. */
export const GRAPHIQL_RENDERER = new URL('./graphiql-render.ts', import.meta.url);

/**
 * GraphiQL's page for yoga's `renderGraphiQL`: the HTML (about 9 MB, with the editor inlined so
 * that it works without a CDN) as UTF-8 bytes, rendered on the first request in a short-lived
 * worker thread and kept for the next ones with the same options. Imported in the process, the
 * renderer's module kept ~29 MB of strings (its source and the bundle) in the heap for good, which
 * V8 then let the heap grow to a multiple of under load: the bytes kept here lie outside the heap
 * and only once GraphiQL has been opened. Rejects when the worker fails (the next request tries again).
 */
export function graphiqlPage(): (options: GraphiQLOptions) => Promise<Uint8Array<ArrayBuffer>> {
  let cached: { key: string; page: Promise<Uint8Array<ArrayBuffer>> } | null = null;
  return (options) => {
    const key = JSON.stringify(options);
    if (cached?.key !== key) {
      const page = render(options);
      cached = { key, page };
      page.catch(() => {
        if (cached?.page === page) cached = null;
      });
    }
    return cached.page;
  };
}

function render(options: GraphiQLOptions): Promise<Uint8Array<ArrayBuffer>> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(GRAPHIQL_RENDERER, { workerData: options });
    worker.once('message', (page: Uint8Array<ArrayBuffer>) => resolve(page));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the GraphiQL renderer exited with code ${code} before it rendered`)));
  });
}
