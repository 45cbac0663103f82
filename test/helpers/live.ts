import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

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
  /** Errors and completion, if any. */
  errors: unknown[];
  completed: boolean;
  /** Resolves with the first item (past or future) matching `predicate`; rejects after `timeoutMs`. */
  waitFor(predicate: (item: T) => boolean, timeoutMs?: number, what?: string): Promise<T>;
  /** Resolves once `predicate(items)` holds. */
  waitUntil(predicate: (items: T[]) => boolean, timeoutMs?: number, what?: string): Promise<void>;
  unsubscribe(): void;
}

/** Subscribes with `client` and collects the `data[field]` of every result. */
export function collect<T = any>(client: Client, query: string, variables: Record<string, unknown> = {}): Collected<T> {
  const items: T[] = [];
  const errors: unknown[] = [];
  const watchers = new Set<() => void>();
  const wake = () => {
    for (const w of watchers) w();
  };
  const state = { completed: false };
  const unsubscribe = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) errors.push(result.errors);
        if (result.data) items.push(Object.values(result.data)[0] as T);
        wake();
      },
      error: (error) => {
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
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(items)) return;
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
        watchers.delete(check);
      };
      watchers.add(check);
      check();
    });
  }

  return {
    items,
    errors,
    get completed() {
      return state.completed;
    },
    async waitFor(predicate, timeoutMs, what) {
      await waitUntil((all) => all.some(predicate), timeoutMs, what);
      return items.find(predicate)!;
    },
    waitUntil,
    unsubscribe,
  };
}

/**
 * graphql-ws does not acknowledge a subscribe message: give the server a moment to start the
 * subscriptions just sent before causing the events they should see.
 */
export const settle = (ms = 250) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** POSTs a GraphQL operation; throws on errors; returns `data`. */
export async function gqlOk<T = any>(httpUrl: string, key: string, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(httpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

export const CREATE_TENANT = 'mutation($name: String!) { createTenant(input: { name: $name }) { tenant { id } apiKey } }';
export const CREATE_WEBHOOK = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }';
export const PUBLISH = 'mutation($input: PublishEventInput!) { publishEvent(input: $input) { event { id } deliveryCount } }';
export const PUBLISH_MANY = 'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } deliveryCount } }';

export const DELIVERY_UPDATED = `subscription($webhookId: ID, $eventId: ID, $tenantId: ID) {
  deliveryUpdated(webhookId: $webhookId, eventId: $eventId, tenantId: $tenantId) {
    phase nextAttemptAt
    delivery { id status eventId webhookId tenantId attemptCount }
    attempt { id number responseStatus durationMs error }
  }
}`;

export interface DeliveryUpdate {
  phase: 'QUEUED' | 'ATTEMPT_STARTED' | 'ATTEMPT_FINISHED' | 'RETRY_SCHEDULED' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
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
