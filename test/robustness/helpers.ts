import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { withPgClient } from '../helpers/db.ts';
import type { TestHerald } from '../helpers/herald.ts';
import type { Receiver, ReceiverHandler } from '../helpers/receiver.ts';

/** The environment a Herald child process needs to share a test Herald's database and keys. */
export function childEnv(h: TestHerald, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: h.databaseUrl,
    HERALD_ENCRYPTION_KEY: h.encryptionKey,
    HERALD_ADMIN_KEY: h.adminKey,
    HERALD_ALLOW_HTTP: 'true',
    HERALD_ALLOWED_CIDRS: '127.0.0.0/8',
    ...extra,
  };
}

/** Creates a webhook for every event type on `url`; returns its id. */
export async function createWebhook(h: TestHerald, key: string, url: string, input: Record<string, unknown> = {}): Promise<string> {
  const data = await h.ok<{ createWebhook: { webhook: { id: string } } }>(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }',
    { input: { url, events: ['*'], ...input } },
    key,
  );
  return data.createWebhook.webhook.id;
}

/** Publishes `count` message.delivered events in one call; returns their ids. */
export async function publishMany(h: TestHerald, key: string, count: number, tag = 'm'): Promise<string[]> {
  const inputs = Array.from({ length: count }, (_, i) => ({
    type: 'message.delivered',
    channel: 'sms',
    data: { messageId: `${tag}-${i}` },
  }));
  const data = await h.ok<{ publishEvents: { event: { id: string } }[] }>(
    'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } } }',
    { inputs },
    key,
  );
  return data.publishEvents.map((p) => p.event.id);
}

export interface DeliveryRow {
  id: string;
  event_id: string;
  status: string;
  attempt_count: number;
  locked_by: string | null;
  locked_until: Date | null;
}

export async function deliveryRows(databaseUrl: string): Promise<DeliveryRow[]> {
  return withPgClient(databaseUrl, async (client) => {
    const { rows } = await client.query<DeliveryRow>('select id, event_id, status, attempt_count, locked_by, locked_until from delivery');
    return rows;
  });
}

export function countByStatus(rows: DeliveryRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of rows) counts[r.status] = (counts[r.status] ?? 0) + 1;
  return counts;
}

/** Polls until all `expected` deliveries are SUCCEEDED; returns the milliseconds it took. On timeout, throws with the counts and a few unfinished rows. */
export async function waitAllSucceeded(
  databaseUrl: string,
  expected: number,
  timeoutMs: number,
  context: () => string = () => '',
): Promise<number> {
  const start = Date.now();
  let counts: Record<string, number> = {};
  let rows: DeliveryRow[] = [];
  while (Date.now() - start < timeoutMs) {
    rows = await deliveryRows(databaseUrl);
    counts = countByStatus(rows);
    if (rows.length === expected && counts.SUCCEEDED === expected) return Date.now() - start;
    await sleep(200);
  }
  throw new Error(
    `not every delivery SUCCEEDED within ${timeoutMs} ms: ${JSON.stringify(counts)}\n${JSON.stringify(rows.filter((r) => r.status !== 'SUCCEEDED').slice(0, 5))}\n${context()}`,
  );
}

/** Warnings and errors among a child process's log lines (for failure messages). */
export function problems(lines: string[]): string {
  return lines
    .filter((l) => /"level":(4|5|6)0/.test(l))
    .slice(-20)
    .join('\n');
}

/** The distinct `webhook-id` headers a receiver got. */
export function webhookIds(receiver: Receiver): Set<string> {
  return new Set(receiver.requests.map((r) => String(r.headers['webhook-id'])));
}

/**
 * A receiver handler that holds every request open until `answerAll()`; after that it
 * answers 200 at once. Requests whose client went away are just dropped.
 */
export function holdingHandler() {
  const held: ServerResponse[] = [];
  let answering = false;
  const answer = (res: ServerResponse) => {
    if (!res.destroyed && !res.headersSent) res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  };
  const handler: ReceiverHandler = (_req, res) => {
    if (answering) answer(res);
    else held.push(res);
  };
  return {
    handler,
    get held() {
      return held.filter((res) => !res.destroyed).length;
    },
    answerAll() {
      answering = true;
      for (const res of held.splice(0)) answer(res);
    },
  };
}
