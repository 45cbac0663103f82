// Depth, alias, token and cost limits: an abusive operation is refused with QUERY_TOO_COMPLEX
// before anything runs (a refused mutation stores nothing), over HTTP and over graphql-ws alike,
// while GraphiQL's introspection, the README's examples and ordinary queries stay well inside.
import { readFileSync } from 'node:fs';
import { getIntrospectionQuery } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { countWebhookRows, createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { collect, connectLive, subscriptionsRunning } from '../helpers/live.ts';
import { type Receiver, startReceiver } from '../helpers/receiver.ts';

let h: TestHerald;
let receiver: Receiver;
let tenant: { id: string; key: string };
let webhookId: string;
const clients: Client[] = [];

beforeAll(async () => {
  receiver = await startReceiver();
  h = await startTestHerald({ HERALD_ALLOW_HTTP: 'true', HERALD_ALLOWED_CIDRS: '127.0.0.0/8' });
  tenant = await createTenant(h, 'limits');
  const data = await h.ok(
    'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }',
    { input: { url: `${receiver.url}/hook`, events: ['*'] } },
    tenant.key,
  );
  webhookId = data.createWebhook.webhook.id;
});
afterAll(async () => {
  for (const client of clients) await client.dispose();
  await h?.stop();
  await receiver?.close();
});

/** `webhooks → deliveries → webhook → deliveries → …`, `levels` relations deep, ending in `leaf`. */
function nested(levels: number, leaf = 'id'): string {
  let selection = leaf;
  for (let level = levels; level >= 1; level--) {
    selection = level % 2 ? `deliveries { edges { node { ${selection} } } }` : `webhook { ${selection} }`;
  }
  return `webhooks { edges { node { ${selection} } } }`;
}

/** `n` aliased copies of `field`. */
const aliases = (n: number, field: string) => Array.from({ length: n }, (_, i) => `a${i}: ${field}`).join('\n');

function expectTooComplex(result: Parameters<typeof expectError>[0], limit: string, max: number) {
  const error = expectError(result, 'QUERY_TOO_COMPLEX');
  expect(error.extensions).toMatchObject({ limit, max });
  return error;
}

describe('over HTTP', () => {
  test('a query nested 10 relations deep (webhooks → deliveries → webhook → …) is refused: depth limit 12', async () => {
    const result = await h.gql(`{ ${nested(10)} }`, {}, tenant.key);
    const error = expectTooComplex(result, 'depth', 12);
    expect(error.message).toMatch(/^Query depth limit of 12 exceeded, found 24\. \(HERALD_MAX_DEPTH\)$/);
    expect(result.data ?? null).toBeNull();
    // Depth 12 itself is allowed: webhooks edges node deliveries edges node webhook deliveries edges node webhook id.
    const ok = await h.gql(`{ ${nested(3)} }`.replace(/\bid\b/, 'webhook { id }'), {}, tenant.key);
    expect(ok.errors).toBeUndefined();
  });

  test('a refused mutation runs nothing: createWebhook selecting too deep stores no webhook', async () => {
    const before = await countWebhookRows(h, tenant.id);
    const result = await h.gql(
      `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { ${nested(6)
        .replace(/^webhooks \{ edges \{ node \{ /, '')
        .replace(/ \} \} \}$/, '')} } } }`,
      { input: { url: `${receiver.url}/deep`, events: ['*'] } },
      tenant.key,
    );
    expectTooComplex(result, 'depth', 12);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test('5 000 aliases of webhooks(first: 100) are refused, and so is the 31st alias; 30 run', async () => {
    const many = await h.gql(`{ ${aliases(5000, 'webhooks(first: 100) { edges { node { id url } } }')} }`, {}, tenant.key);
    // Over 10 000 tokens too: the parser stops first.
    expectTooComplex(many, 'tokens', 10_000);
    const over = await h.gql(`{ ${aliases(31, 'webhooks(first: 100) { edges { node { id url } } }')} }`, {}, tenant.key);
    expect(expectTooComplex(over, 'aliases', 30).message).toBe('Aliases limit of 30 exceeded, found 31. (HERALD_MAX_ALIASES)');
    const fine = await h.gql(`{ ${aliases(30, 'webhooks(first: 100) { edges { node { id url } } }')} }`, {}, tenant.key);
    expect(fine.errors).toBeUndefined();
    expect(fine.data.a29.edges[0].node.id).toBe(webhookId);
  });

  test('31 aliased createWebhook mutations are refused and none is stored', async () => {
    const before = await countWebhookRows(h, tenant.id);
    const create = `createWebhook(input: { url: "${receiver.url}/alias", events: ["*"] }) { webhook { id } }`;
    expectTooComplex(await h.gql(`mutation { ${aliases(31, create)} }`, {}, tenant.key), 'aliases', 30);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test('a document of more than 10 000 tokens is refused while it is parsed; variables do not count', async () => {
    const result = await h.gql(`{ tenant { ${'id '.repeat(10_000)} } }`, {}, tenant.key);
    expect(expectTooComplex(result, 'tokens', 10_000).message).toBe('Token limit of 10000 exceeded. (HERALD_MAX_TOKENS)');
    const data = { blob: Array.from({ length: 20_000 }, (_, i) => i) };
    const published = await h.gql(
      'mutation($input: PublishEventInput!) { publishEvent(input: $input) { deliveryCount } }',
      { input: { type: 'message.sent', data } },
      tenant.key,
    );
    expect(published.errors).toBeUndefined();
  });

  test('the cost counts each connection `first` times, from variables too: 100 × 100 × 100 deliveries is refused, 2 × 2 × 2 runs', async () => {
    const query = `query($n: Int) { webhooks(first: $n) { edges { node { deliveries(first: $n) { edges { node {
      webhook { deliveries(first: $n) { edges { node { id } } } } } } } } } } }`;
    const refused = await h.gql(query, { n: 100 }, tenant.key);
    expect(expectTooComplex(refused, 'cost', 100_000).message).toBe(
      'Query cost limit of 100000 exceeded, found 3040301. (HERALD_MAX_COST)',
    );
    expect((await h.gql(query, { n: 2 }, tenant.key)).errors).toBeUndefined();
    // first over the page range is not a cost question: the resolver's own VALIDATION_ERROR.
    expectError(await h.gql('{ webhooks(first: 100000) { edges { node { id } } } }', {}, tenant.key), 'VALIDATION_ERROR', 'first');
  });

  test('a mutation over the cost limit stores nothing', async () => {
    const before = await countWebhookRows(h, tenant.id);
    const result = await h.gql(
      `mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { deliveries(first: 100) { edges { node {
        webhook { deliveries(first: 100) { edges { node { attempts { id responseStatus } } } } } } } } } } }`,
      { input: { url: `${receiver.url}/costly`, events: ['*'] } },
      tenant.key,
    );
    expectTooComplex(result, 'cost', 100_000);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test("GraphiQL's introspection query runs (exempt from the depth limit); a self-nesting one is refused all the same", async () => {
    for (const query of [getIntrospectionQuery(), getIntrospectionQuery({ inputValueDeprecation: true, schemaDescription: true })]) {
      const result = await h.gql(query, {}, tenant.key);
      expect(result.errors).toBeUndefined();
      expect(result.data.__schema.types.map((t: { name: string }) => t.name)).toContain('Webhook');
    }
    // graphql-js's own rule (fields, interfaces, possibleTypes nested 3 deep) refuses it.
    const nesting = '{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }';
    const refused = await h.gql(nesting, {}, tenant.key);
    expect(refused.status).toBe(400);
    expect(refused.errors).toMatchObject([
      { message: 'Maximum introspection depth exceeded', extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } },
    ]);
  });

  test("the README's GraphQL examples run within every limit", async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const operations = [...readme.matchAll(/```graphql\n([\s\S]*?)```/g)].flatMap((m) => m[1].split(/\n\n+/)).map((s) => s.trim());
    expect(operations.length).toBeGreaterThanOrEqual(5);
    let subscriptions = 0;
    for (const operation of operations) {
      if (operation.startsWith('subscription')) {
        subscriptions++;
        const client = await connectLive(h.url, tenant.key);
        clients.push(client);
        const sub = collect(client, operation);
        // Running: accepted, not refused by a limit.
        await subscriptionsRunning(h.url, 1);
        expect(sub.errors).toEqual([]);
        sub.unsubscribe();
        await subscriptionsRunning(h.url, 0);
        continue;
      }
      // Admin for createTenant and an operator webhook, the tenant otherwise; what matters is that no limit is met.
      const admin = operation.includes('createTenant') || operation.includes('operator: true');
      const result = await h.gql(operation, {}, admin ? h.adminKey : tenant.key);
      expect(result.status, JSON.stringify(result.errors)).toBe(200);
      expect(result.errors ?? []).toEqual([]);
    }
    expect(subscriptions).toBe(1);
  });
});

describe('over graphql-ws, as the real client sends them', () => {
  /** Subscribes and resolves with the error the server answers (or fails after `timeoutMs`). */
  async function refusal(client: Client, query: string, variables: Record<string, unknown> = {}) {
    const sub = collect(client, query, variables);
    await sub.waitUntil(() => sub.errors.length > 0, 10_000, 'an error');
    return (sub.errors[0] as { message: string; extensions: Record<string, unknown> }[])[0];
  }

  test('each limit refuses the subscribe with QUERY_TOO_COMPLEX and leaves the connection working', async () => {
    const client = await connectLive(h.url, tenant.key);
    clients.push(client);
    const deep = `subscription { deliveryUpdated { delivery { ${nested(8)
      .replace(/^webhooks \{ edges \{ node \{ /, 'webhook { ')
      .replace(/ \} \} \}$/, ' }')} } } }`;
    expect(await refusal(client, deep)).toMatchObject({
      message: expect.stringMatching(/^Query depth limit of 12 exceeded/),
      extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'depth' },
    });
    expect(await refusal(client, `subscription { ${aliases(31, 'deliveryUpdated { phase }')} }`)).toMatchObject({
      extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'aliases', max: 30 },
    });
    expect(await refusal(client, `subscription { deliveryUpdated { ${'phase '.repeat(10_001)} } }`)).toMatchObject({
      extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'tokens', max: 10_000 },
    });
    const costly = `subscription($n: Int) { deliveryUpdated { delivery { webhook { deliveries(first: $n) { edges { node {
      webhook { deliveries(first: $n) { edges { node { attempts { id } } } } } } } } } } } }`;
    expect(await refusal(client, costly, { n: 100 })).toMatchObject({
      extensions: { code: 'QUERY_TOO_COMPLEX', limit: 'cost', max: 100_000 },
    });

    // The same connection still subscribes, and receives.
    const live = collect<{ phase: string; delivery: { eventId: string } }>(
      client,
      'subscription { deliveryUpdated { phase delivery { eventId } } }',
    );
    await subscriptionsRunning(h.url, 1);
    const { publishEvent } = await h.ok(
      'mutation { publishEvent(input: { type: "message.sent", data: {} }) { event { id } } }',
      {},
      tenant.key,
    );
    await live.waitFor((u) => u.delivery.eventId === publishEvent.event.id && u.phase === 'SUCCEEDED');
    expect(live.errors).toEqual([]);
  });
});
