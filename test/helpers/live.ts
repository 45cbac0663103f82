import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { DeliveryPhase } from '../../src/core/delivery-state.ts';

/** The WebSocket URL of a GraphQL HTTP URL (same host, port and path). */
export function wsUrlOf(httpUrl: string): string {
  return httpUrl.replace(/^http/, 'ws');
}

/**
 * The real graphql-ws client, authenticated as DESIGN.md says (connection_init payload
 * `{ authorization: 'Bearer <key>' }`); resolves once the server acknowledged the connection.
 */
export async function connectLive(httpUrl: string, key: string): Promise<Client> {
  let connected!: () => void;
  let failed!: (error: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => {
    connected = resolve;
    failed = reject;
  });
  const client = createClient({
    url: wsUrlOf(httpUrl),
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${key}` },
    lazy: false,
    retryAttempts: 0,
    onNonLazyError: (error) => failed(error),
    on: { connected: () => connected(), closed: (event) => failed(new Error(`closed before ack: ${JSON.stringify(event)}`)) },
  });
  await ready;
  return client;
}

export interface Collected<T> {
  /** Every `data` payload received, in order. */
  items: T[];
  /** Every message as it came: a result (`{ data, errors? }`), or `{ error }` when the stream failed. */
  results: any[];
  /** Errors and completion, if any. */
  errors: unknown[];
  completed: boolean;
  /** The next message of `results` not read yet by next(); rejects after `timeoutMs` (default 15 s, as waitUntil). */
  next(timeoutMs?: number): Promise<any>;
  /** Resolves with the first item (past or future) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (item: T) => boolean, timeoutMs?: number, what?: string): Promise<T>;
  /** Resolves once `predicate(items)` holds. */
  waitUntil(predicate: (items: T[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  unsubscribe(): void;
}

/**
 * Subscribes with `client` and collects every message, and the `data[field]` of every result.
 * `extensions` travel with the subscribe message (where GraphiQL puts its Headers tab).
 */
export function collect<T = any>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
  extensions?: Record<string, unknown>,
): Collected<T> {
  const items: T[] = [];
  const results: any[] = [];
  const errors: unknown[] = [];
  const watchers = new Set<() => void>();
  const wake = () => {
    for (const w of watchers) w();
  };
  const state = { completed: false, read: 0 };
  const unsubscribe = client.subscribe<Record<string, T>>(
    extensions === undefined ? { query, variables } : { query, variables, extensions },
    {
      next: (result) => {
        results.push(result);
        if (result.errors?.length) errors.push(result.errors);
        if (result.data) items.push(Object.values(result.data)[0] as T);
        wake();
      },
      error: (error) => {
        results.push({ error });
        errors.push(error);
        wake();
      },
      complete: () => {
        state.completed = true;
        wake();
      },
    },
  );

  function waitUntil(predicate: (items: T[]) => boolean, timeoutMs = 15_000, what = 'condition'): Promise<void> {
    return waitOn(() => predicate(items), timeoutMs, what);
  }

  function waitOn(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const watcher = () => {
        if (!check()) return;
        done();
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        reject(
          new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${items.length} items, errors ${JSON.stringify(errors)}`),
        );
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        watchers.delete(watcher);
      };
      watchers.add(watcher);
      watcher();
    });
  }

  return {
    items,
    results,
    errors,
    get completed() {
      return state.completed;
    },
    async next(timeoutMs = 15_000) {
      await waitOn(() => results.length > state.read, timeoutMs, 'the next message');
      return results[state.read++];
    },
    async waitFor(predicate, timeoutMs, what) {
      await waitUntil((all) => all.some(predicate), timeoutMs, what);
      return items.find(predicate)!;
    },
    waitUntil,
    unsubscribe,
  };
}

/** Live connections of one test file, all closed by disposeAll() (e.g. after each test). */
export function liveClients(httpUrl: () => string) {
  const open: Client[] = [];
  return {
    /** connectLive(), remembered for disposeAll(). */
    async connect(key: string): Promise<Client> {
      return this.track(await connectLive(httpUrl(), key));
    },
    track(client: Client): Client {
      open.push(client);
      return client;
    },
    /** subscriptionsRunning() on this file's Herald. */
    running(count: number): Promise<void> {
      return subscriptionsRunning(httpUrl(), count);
    },
    /** Closes every connection, and waits until Herald has ended their subscriptions (so the next test counts from 0). */
    async disposeAll(): Promise<void> {
      await Promise.all(open.splice(0).map((c) => c.dispose()));
      await subscriptionsRunning(httpUrl(), 0);
    },
  };
}

/**
 * How many live subscriptions (graphql-ws and SSE) the Herald API process at `httpUrl` runs
 * now: its `herald_live_subscribers` gauge on /metrics; null when it does not export it.
 */
export async function liveSubscribers(httpUrl: string, metricsToken?: string): Promise<number | null> {
  const res = await fetch(new URL('/metrics', httpUrl), {
    headers: metricsToken ? { authorization: `Bearer ${metricsToken}` } : {},
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status} ${text}`);
  const value = /^herald_live_subscribers (\S+)$/m.exec(text)?.[1];
  return value === undefined ? null : Number(value);
}

/**
 * Resolves once the Herald API process at `httpUrl` runs exactly `count` live subscriptions,
 * i.e. every subscribe sent to it so far has reached the point where updates are kept for it.
 * graphql-ws does not acknowledge a subscribe message, and a fixed pause before causing the
 * first event a subscription should see is too short on a loaded machine (the subscribe takes a
 * rate-limit token and reads the database first). Exactly, not at least: subscriptions of an
 * earlier test still being ended must not count as the new ones.
 */
export async function subscriptionsRunning(httpUrl: string, count: number, options: { timeoutMs?: number; metricsToken?: string } = {}) {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let seen: number | null = null;
  for (;;) {
    seen = await liveSubscribers(httpUrl, options.metricsToken);
    if (seen === count) return;
    if (Date.now() > deadline) throw new Error(`${httpUrl} runs ${seen} live subscriptions, not ${count}, after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export const DELIVERY_UPDATED = `subscription($webhookId: ID, $eventId: ID, $tenantId: ID) {
  deliveryUpdated(webhookId: $webhookId, eventId: $eventId, tenantId: $tenantId) {
    phase status nextAttemptAt
    delivery { id status eventId webhookId tenantId attemptCount }
    attempt { id number responseStatus durationMs error }
  }
}`;

export interface DeliveryUpdate {
  phase: DeliveryPhase;
  /** The delivery's status as of this phase. */
  status: string;
  nextAttemptAt: string | null;
  delivery: { id: string; status: string; eventId: string; webhookId: string; tenantId: string; attemptCount: number };
  attempt: { id: string; number: number; responseStatus: number | null; durationMs: number; error: string | null } | null;
}

/**
 * Subscribes over HTTP (GraphQL over SSE, as yoga serves it) with `key` as bearer token, and
 * hands each `next` payload to `onNext`; resolves true on `complete`, false if the stream just ends.
 */
export async function subscribeOverSse(
  httpUrl: string,
  key: string,
  operation: { query: string; variables?: Record<string, unknown> },
  onNext: (payload: any) => void,
  signal?: AbortSignal,
): Promise<boolean> {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${key}` },
    body: JSON.stringify(operation),
    signal,
  });
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body!) {
    text += decoder.decode(chunk, { stream: true });
    for (let end = text.indexOf('\n\n'); end >= 0; end = text.indexOf('\n\n')) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (/^event: next$/m.test(block) && data) onNext(JSON.parse(data));
      if (/^event: complete$/m.test(block)) return true;
    }
  }
  return false;
}
