import { randomBytes } from 'node:crypto';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, beforeAll, expect, test } from 'vitest';
import WebSocket from 'ws';
import { sleep, waitUntil } from '../helpers/deliveries.ts';
import { type GqlResult, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { getJson, type Scrape, scrape } from '../helpers/ops.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

/** A scripted run: N successes, M failures (500) and a timeout, then /metrics must say exactly that. */
const N = 5;
const M = 3;
const TOKEN = `metrics-${randomBytes(12).toString('hex')}`;

let h: TestHerald;
let receiver: Receiver;
let ws: Client | null = null;
/** Every GraphQL request this test made, as `operation_type|code` → count. */
const sent: Record<string, number> = {};

beforeAll(async () => {
  receiver = await startReceiver({
    handler: (req, res) => {
      if (req.url?.startsWith('/ok')) res.writeHead(200).end('ok');
      else if (req.url?.startsWith('/fail')) res.writeHead(500).end('no');
      // '/hang': never answers; the attempt times out.
    },
  });
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8', HERALD_METRICS_TOKEN: TOKEN });
});
afterAll(async () => {
  await ws?.dispose();
  await h?.stop();
  await receiver?.close();
});

/** A GraphQL request, tallied by its operation type and the code of its first error. */
async function gql<T = any>(
  query: string,
  variables: Record<string, unknown> = {},
  key: string | null = h.adminKey,
): Promise<GqlResult<T>> {
  const result = await h.gql<T>(query, variables, key);
  const type = /^\s*(mutation|subscription)/.exec(query)?.[1] ?? 'query';
  const code = result.errors?.[0]?.extensions?.code ?? 'OK';
  sent[`${type}|${code}`] = (sent[`${type}|${code}`] ?? 0) + 1;
  return result;
}

async function ok<T = any>(query: string, variables: Record<string, unknown> = {}, key: string | null = h.adminKey): Promise<T> {
  const result = await gql<T>(query, variables, key);
  if (result.errors) throw new Error(JSON.stringify(result.errors));
  return result.data as T;
}

const PUBLISH = 'mutation($input: PublishEventInput!) { publishEvent(input: $input) { event { id } deliveryCount } }';
const CREATE_WEBHOOK = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }';

test('/metrics requires the bearer token when HERALD_METRICS_TOKEN is set; /healthz and /readyz do not', async () => {
  const ops = h.herald.opsUrl;
  expect((await fetch(`${ops}/metrics`)).status).toBe(401);
  const wrong = await fetch(`${ops}/metrics`, { headers: { authorization: `Bearer ${TOKEN}x` } });
  expect(wrong.status).toBe(401);
  expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="herald-metrics"');
  // The admin key is not the metrics token.
  expect((await fetch(`${ops}/metrics`, { headers: { authorization: `Bearer ${h.adminKey}` } })).status).toBe(401);
  expect((await fetch(`${ops}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  expect((await getJson(`${ops}/healthz`)).status).toBe(200);
  expect((await getJson(`${ops}/readyz`)).status).toBe(200);
});

test('after N successes, M failures and a timeout the counters say exactly that', { timeout: 60_000 }, async () => {
  const ops = h.herald.opsUrl;
  const before = await scrape(ops, TOKEN);
  // Nothing yet: the counters exist (HELP and TYPE) with no samples.
  expect(before.family('herald_attempts_total').samples).toEqual([]);
  expect(before.value('herald_events_published_total')).toBe(0);

  const { createTenant } = await ok('mutation { createTenant(input: { name: "metrics" }) { tenant { id } apiKey } }');
  const key: string = createTenant.apiKey;
  const webhook = async (path: string, events: string[], extra: Record<string, unknown> = {}) =>
    (await ok(CREATE_WEBHOOK, { input: { url: `${receiver.url}${path}`, events, retrySchedule: [], ...extra } }, key)).createWebhook.webhook
      .id as string;
  await webhook('/ok', ['message.delivered']);
  await webhook('/fail', ['message.failed']);
  await webhook('/hang', ['message.read'], { timeoutMs: 1000 });
  const paused = await webhook('/ok/paused', ['campaign.started']);
  await ok('mutation($id: ID!) { updateWebhook(id: $id, input: { status: PAUSED }) { id } }', { id: paused }, key);

  // A live subscriber over WebSocket: an operation of its own, and the subscribers gauge.
  ws = createClient({ url: h.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${key}` } });
  ws.subscribe({ query: 'subscription { deliveryUpdated { phase } }' }, { next: () => {}, error: () => {}, complete: () => {} });
  sent['subscription|OK'] = 1;

  const publish = (type: string, i: number, idempotencyKey?: string) =>
    ok(PUBLISH, { input: { type, data: { i }, ...(idempotencyKey ? { idempotencyKey } : {}) } }, key);
  for (let i = 0; i < N; i++) await publish('message.delivered', i, i === 0 ? 'first' : undefined);
  for (let i = 0; i < M; i++) await publish('message.failed', i);
  await publish('message.read', 0);
  // Held on purpose: waiting, but neither due nor lagging.
  await publish('campaign.started', 0);
  // The same publish again with its idempotency key: the stored event is returned, nothing new is published.
  await publish('message.delivered', 0, 'first');
  // A request that fails: counted with its code.
  expect((await gql('{ webhooks { edges { node { id } } } }', {}, 'hrld_not_a_key')).errors?.[0].extensions?.code).toBe('UNAUTHORIZED');

  const finalCount = async () =>
    (
      await ok<{ deliveries: { edges: { node: { status: string } }[] } }>(
        '{ deliveries(first: 50) { edges { node { status } } } }',
        {},
        key,
      )
    ).deliveries.edges.filter((e) => ['SUCCEEDED', 'FAILED'].includes(e.node.status)).length;
  await waitUntil(async () => (await finalCount()) === N + M + 1, { timeout: 20_000, interval: 200, message: 'every delivery final' });

  // The gauges read from PostgreSQL are cached for up to 5 s: wait for a read that sees the end state.
  let m: Scrape = await scrape(ops, TOKEN);
  await waitUntil(
    async () => {
      m = await scrape(ops, TOKEN);
      return m.value('herald_webhooks', { status: 'PAUSED' }) === 1 && m.value('herald_deliveries_waiting', { status: 'PENDING' }) === 1;
    },
    { timeout: 15_000, interval: 500, message: 'gauges to show the paused webhook and its waiting delivery' },
  );

  expect(m.value('herald_events_published_total')).toBe(N + M + 2);
  expect(m.samples('herald_attempts_total')).toEqual({ 'result=success': N, 'result=http_error': M, 'result=timeout': 1 });
  expect(m.count('herald_attempt_duration_seconds', { result: 'success' })).toBe(N);
  expect(m.count('herald_attempt_duration_seconds', { result: 'http_error' })).toBe(M);
  expect(m.count('herald_attempt_duration_seconds', { result: 'timeout' })).toBe(1);
  expect(m.value('herald_attempt_duration_seconds_sum', { result: 'timeout' })).toBeGreaterThanOrEqual(1);
  expect(m.value('herald_attempt_duration_seconds_bucket', { result: 'timeout', le: '0.5' })).toBe(0);
  expect(m.value('herald_attempt_duration_seconds_bucket', { result: 'timeout', le: '+Inf' })).toBe(1);
  expect(m.samples('herald_deliveries_completed_total')).toEqual({ 'status=SUCCEEDED': N, 'status=FAILED': M + 1 });
  expect(m.count('herald_publish_to_first_attempt_seconds')).toBe(N + M + 1);
  expect(m.samples('herald_webhooks')).toEqual({ 'status=ACTIVE': 3, 'status=PAUSED': 1 });
  expect(m.samples('herald_deliveries_waiting')).toEqual({ 'status=PENDING': 1, 'status=RETRYING': 0 });
  expect(m.value('herald_delivery_lag_seconds')).toBe(0);
  expect(m.value('herald_live_subscribers')).toBe(1);
  expect(m.value('herald_ready')).toBe(1);
  // Every GraphQL request this test made, by operation type and code: no more, no less.
  const requests = Object.fromEntries(
    m.family('herald_graphql_requests_total').samples.map((s) => [`${s.labels.operation_type}|${s.labels.code}`, Number(s.value)]),
  );
  expect(requests).toEqual(sent);
  expect(m.count('herald_graphql_request_duration_seconds')).toBe(Object.values(sent).reduce((a, b) => a + b, 0));
  // prom-client's default process and Node.js metrics.
  for (const name of [
    'process_cpu_user_seconds_total',
    'process_resident_memory_bytes',
    'nodejs_heap_size_used_bytes',
    'nodejs_eventloop_lag_p99_seconds',
  ]) {
    expect(m.family(name).samples.length, name).toBeGreaterThan(0);
  }

  // Deleting the paused webhook cancels its waiting delivery.
  await ok('mutation($id: ID!) { deleteWebhook(id: $id) { id } }', { id: paused }, key);
  await sleep(5100);
  m = await scrape(ops, TOKEN);
  expect(m.samples('herald_deliveries_completed_total')).toEqual({ 'status=SUCCEEDED': N, 'status=FAILED': M + 1, 'status=CANCELLED': 1 });
  expect(m.samples('herald_webhooks')).toEqual({ 'status=ACTIVE': 3 });
  expect(m.samples('herald_deliveries_waiting')).toEqual({ 'status=PENDING': 0, 'status=RETRYING': 0 });
});
