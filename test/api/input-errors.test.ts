import type { Client } from 'graphql-ws';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { withPgClient } from '../helpers/db.ts';
import { countWebhookRows, createTenant, expectError, startTestHerald, type TestHerald } from '../helpers/herald.ts';
import { connectLive } from '../helpers/live.ts';

// Every refused input value is VALIDATION_ERROR (422) with the input path in `fields`, inline or
// in variables, over HTTP and over graphql-ws; a broken document stays a 400.
let h: TestHerald;
let tenant: { id: string; key: string };
const clients: Client[] = [];
beforeAll(async () => {
  h = await startTestHerald();
  tenant = await createTenant(h, 'input');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.dispose()));
});
afterAll(() => h?.stop());

const DELIVERIES = 'query($filter: DeliveryFilter) { deliveries(filter: $filter) { edges { cursor } } }';
const CREATE = 'mutation($input: CreateWebhookInput!) { createWebhook(input: $input) { webhook { id } } }';
const PUBLISH_MANY = 'mutation($inputs: [PublishEventInput!]!) { publishEvents(inputs: $inputs) { event { id } } }';
const URL = 'https://example.com/hook';

/** Asserts one VALIDATION_ERROR (422) whose fields are exactly `fields` (in any order); returns their messages. */
function expectFields(result: Awaited<ReturnType<TestHerald['gql']>>, fields: string[]): string[] {
  const error = expectError(result, 'VALIDATION_ERROR');
  expect(error.extensions!.fields!.map((f) => f.field).sort()).toEqual([...fields].sort());
  return error.extensions!.fields!.map((f) => f.message);
}

async function rows(table: 'event' | 'event_type'): Promise<number> {
  return withPgClient(h.databaseUrl, async (db) => (await db.query(`select count(*)::int as n from ${table}`)).rows[0].n);
}

describe('refused argument values are VALIDATION_ERROR with the input path', () => {
  test('a DateTime without a UTC offset, inline (the bug report: 400 and no code)', async () => {
    const result = await h.gql('{ deliveries(filter: { since: "2026-11-30T01:04:51" }) { edges { cursor } } }', {}, tenant.key);
    const [message] = expectFields(result, ['filter.since']);
    expect(message).toMatch(/DateTime/);
  });

  test.each([
    ['the input object', DELIVERIES, { filter: { since: '2026-11-30T01:04:51' } }, ['filter.since']],
    [
      'one field, used inside an object literal',
      'query($s: DateTime) { deliveries(filter: { since: $s }) { edges { cursor } } }',
      { s: '2026-11-30T01:04:51' },
      ['filter.since'],
    ],
    ['an unknown enum value', DELIVERIES, { filter: { status: 'SENT' } }, ['filter.status']],
    ['an Int out of range', 'query($n: Int) { webhooks(first: $n) { edges { cursor } } }', { n: 3_000_000_000 }, ['first']],
    ['a missing required input field', CREATE, { input: { events: ['*'] } }, ['input.url']],
    ['an unknown input field', CREATE, { input: { url: URL, events: ['*'], colour: 'red' } }, ['input.colour']],
    ['a missing required variable', CREATE, {}, ['input']],
    ['null for a required variable', CREATE, { input: null }, ['input']],
    ['a string where a list item object is due', PUBLISH_MANY, { inputs: [{ type: 'message.sent', data: {} }, 'oops'] }, ['inputs[1]']],
    ['a missing field of a list item', PUBLISH_MANY, { inputs: [{ type: 'message.sent', data: {} }, { data: {} }] }, ['inputs[1].type']],
    [
      'several at once',
      DELIVERIES,
      { filter: { since: 'yesterday', status: 'SENT', webhook: 'wh_1' } },
      ['filter.webhook', 'filter.status', 'filter.since'],
    ],
  ])('in variables: %s', async (_case, query, variables, fields) => {
    expectFields(await h.gql(query, variables, tenant.key), fields);
  });

  test.each([
    ['an unknown enum value', '{ deliveries(filter: { status: SENT }) { edges { cursor } } }', ['filter.status']],
    ['an Int out of range', '{ webhooks(first: 3000000000) { edges { cursor } } }', ['first']],
    ['a string for an Int', '{ webhooks(first: "ten") { edges { cursor } } }', ['first']],
    ['a missing required input field', 'mutation { createWebhook(input: { events: ["*"] }) { webhook { id } } }', ['input.url']],
    [
      'an unknown input field',
      `mutation { createWebhook(input: { url: "${URL}", events: ["*"], colour: "red" }) { webhook { id } } }`,
      ['input.colour'],
    ],
    ['a missing required argument', 'mutation { createWebhook { webhook { id } } }', ['input']],
    ['a list item', 'mutation { publishEvents(inputs: [{ type: "a", data: {} }, { data: {} }]) { event { id } } }', ['inputs[1].type']],
    [
      'a variable’s default value, named where the variable is used',
      'query($s: DateTime = "2026-11-30T01:04:51") { deliveries(filter: { since: $s }) { edges { cursor } } }',
      ['filter.since'],
    ],
  ])('inline: %s', async (_case, query, fields) => {
    expectFields(await h.gql(query, {}, tenant.key), fields);
  });

  test('nothing is stored when a mutation’s input is refused', async () => {
    const before = await countWebhookRows(h, tenant.id);
    expectFields(await h.gql(CREATE, { input: { url: URL, events: ['*'], timeoutMs: 2 ** 31 } }, tenant.key), ['input.timeoutMs']);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test.each([
    ['a parse error', '{ deliveries(', {}],
    ['an unknown selection field', '{ deliveries { edges { colour } } }', {}],
    ['an unknown argument', '{ deliveries(colour: "red") { edges { cursor } } }', {}],
    ['a variable of the wrong type for its position', 'query($s: String) { deliveries(filter: { since: $s }) { edges { cursor } } }', {}],
    ['an undefined variable', '{ deliveries(filter: { since: $s }) { edges { cursor } } }', {}],
  ])('%s stays a 400 without VALIDATION_ERROR', async (_case, query, variables) => {
    const result = await h.gql(query, variables, tenant.key);
    expect(result.status).toBe(400);
    expect(result.errors?.length).toBeGreaterThan(0);
    expect(result.errors!.map((e) => e.extensions?.code)).not.toContain('VALIDATION_ERROR');
  });
});

describe('a broken request is a 400 with yoga’s code, whatever the client accepts', () => {
  /** POSTs `body` as curl or fetch would (no Accept unless given); the status and the parsed body. */
  async function post(
    body: string,
    accept?: string,
  ): Promise<{ status: number; errors: { message: string; extensions?: Record<string, unknown> }[] }> {
    const headers: Record<string, string> = { 'content-type': 'application/json', authorization: `Bearer ${tenant.key}` };
    if (accept) headers.accept = accept;
    const res = await fetch(h.url, { method: 'POST', headers, body });
    return { status: res.status, errors: ((await res.json()) as { errors: [] }).errors };
  }

  test.each([
    ['a parse error', '{"query":"query { nope "}', 'GRAPHQL_PARSE_FAILED'],
    ['an unknown field', '{"query":"{ nope }"}', 'GRAPHQL_VALIDATION_FAILED'],
    ['an unknown argument', '{"query":"{ deliveries(colour: \\"red\\") { edges { cursor } } }"}', 'GRAPHQL_VALIDATION_FAILED'],
    ['a body that is not JSON', 'query { nope }', 'BAD_REQUEST'],
    ['a body without a query', '{"variables":{}}', 'BAD_REQUEST'],
  ])('%s', async (_case, body, code) => {
    for (const accept of [undefined, 'application/json', 'application/graphql-response+json', '*/*']) {
      const result = await post(body, accept);
      expect({ accept, status: result.status }).toEqual({ accept, status: 400 });
      expect(result.errors.map((e) => e.extensions?.code)).toEqual(result.errors.map(() => code));
      // The JSON parser's own error (yoga's extensions.originalError) is not the client's business.
      for (const error of result.errors) expect(Object.keys(error.extensions ?? {})).toEqual(['code']);
    }
  });

  test('a value refused inline is a 422 VALIDATION_ERROR whatever the client accepts, as in variables', async () => {
    for (const query of [
      '{ webhooks(first: 1.5) { edges { cursor } } }',
      'mutation { createWebhook(input: { url: "https://example.com/hook", events: ["*"], maxInFlight: 99999999999 }) { webhook { id } } }',
      'mutation { createWebhook(input: { url: "https://example.com/hook", events: ["*"], ordering: "KEYED" }) { webhook { id } } }',
    ]) {
      for (const accept of [undefined, 'application/json', 'application/graphql-response+json', '*/*']) {
        const result = await post(JSON.stringify({ query }), accept);
        expect({ query, accept, status: result.status, codes: result.errors.map((e) => e.extensions?.code) }).toEqual({
          query,
          accept,
          status: 422,
          codes: ['VALIDATION_ERROR'],
        });
      }
    }
  });

  test('a mutation over GET is a 405', async () => {
    const query = encodeURIComponent(
      'mutation { createWebhook(input: { url: "https://example.com/x", events: ["*"] }) { webhook { id } } }',
    );
    const res = await fetch(`${h.url}?query=${query}`, {
      headers: { authorization: `Bearer ${tenant.key}`, 'x-graphql-yoga-csrf': '1', accept: 'application/json' },
    });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});

describe('strings PostgreSQL cannot store are VALIDATION_ERROR naming the field; nothing is stored', () => {
  const NUL = 'x\u0000y';
  const LONE = 'x\ud800y';

  test('the bug report: a description with U+0000, inline (it was INTERNAL_SERVER_ERROR)', async () => {
    const before = await countWebhookRows(h, tenant.id);
    const result = await h.gql(
      `mutation { createWebhook(input: { url: "${URL}", events: ["*"], description: "x\\u0000y" }) { webhook { id } } }`,
      {},
      tenant.key,
    );
    expectFields(result, ['input.description']);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test.each([
    ['a description with U+0000', { description: NUL }, ['input.description']],
    ['a description with a lone surrogate', { description: LONE }, ['input.description']],
    ['a header value with a lone surrogate', { headers: [{ name: 'X-A', value: LONE }] }, ['input.headers[0].value']],
    ['a header value with U+0000', { headers: [{ name: 'X-A', value: NUL }] }, ['input.headers[0].value']],
    ['an auth token', { auth: { type: 'BEARER', token: LONE } }, ['input.auth.token']],
    ['an event name', { events: ['message.sent', NUL] }, ['input.events[1]']],
  ])('createWebhook in variables: %s', async (_case, input, fields) => {
    const before = await countWebhookRows(h, tenant.id);
    expectFields(await h.gql(CREATE, { input: { url: URL, events: ['*'], ...input } }, tenant.key), fields);
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });

  test.each([
    ['a string in data', { type: 'message.sent', data: { text: LONE } }, ['input.data.text']],
    ['a string deep in data', { type: 'message.sent', data: { parts: [{ body: 'ok' }, { body: NUL }] } }, ['input.data.parts[1].body']],
    ['a key in data', { type: 'message.sent', data: { [`k${NUL}`]: 1 } }, [`input.data.k${NUL}`]],
    ['the type', { type: `message.sent${NUL}`, data: {} }, ['input.type']],
    ['the idempotency key', { type: 'message.sent', data: {}, idempotencyKey: LONE }, ['input.idempotencyKey']],
  ])('publishEvent in variables: %s', async (_case, input, fields) => {
    const before = await rows('event');
    const result = await h.gql(
      'mutation($input: PublishEventInput!) { publishEvent(input: $input) { event { id } } }',
      { input },
      tenant.key,
    );
    expectFields(result, fields);
    expect(await rows('event')).toBe(before);
  });

  test('publishEvent with a JSON literal holding U+0000, inline', async () => {
    const before = await rows('event');
    const result = await h.gql(
      'mutation { publishEvent(input: { type: "message.sent", data: { nested: { text: "a\\u0000" } } }) { event { id } } }',
      {},
      tenant.key,
    );
    expectFields(result, ['input.data.nested.text']);
    expect(await rows('event')).toBe(before);
  });

  test('publishEvents: the bad event of a batch is named and none of the batch is stored', async () => {
    const before = await rows('event');
    const inputs = [
      { type: 'message.sent', data: { n: 1 } },
      { type: 'message.sent', data: { n: 2, text: NUL } },
    ];
    expectFields(await h.gql(PUBLISH_MANY, { inputs }, tenant.key), ['inputs[1].data.text']);
    expect(await rows('event')).toBe(before);
  });

  test('createEventType: an example (kept as JSON) and a description', async () => {
    const before = await rows('event_type');
    const result = await h.gql(
      'mutation($input: CreateEventTypeInput!) { createEventType(input: $input) { name } }',
      { input: { name: 'invoice.paid', description: LONE, example: { amount: 1, note: NUL } } },
      tenant.key,
    );
    expectFields(result, ['input.description', 'input.example.note']);
    expect(await rows('event_type')).toBe(before);
  });
});

describe('over graphql-ws: the same answer, as an error message', () => {
  /** Runs one operation over graphql-ws; resolves with what ended it. */
  async function overWs(query: string, variables: Record<string, unknown>) {
    const client = await connectLive(h.url, tenant.key);
    clients.push(client);
    const results: unknown[] = [];
    const error = await new Promise<unknown>((resolve) =>
      client.subscribe({ query, variables }, { next: (r) => results.push(r), error: resolve, complete: () => resolve(null) }),
    );
    return { results, error: error as { extensions: { code: string; fields: { field: string }[] } }[] | null };
  }

  test.each([
    ['a query with a DateTime without offset, inline', '{ deliveries(filter: { since: "2026-11-30T01:04:51" }) { edges { cursor } } }', {}],
    ['a query with a DateTime without offset, in variables', DELIVERIES, { filter: { since: '2026-11-30T01:04:51' } }],
    [
      'a subscription with an ID that is not one, in variables',
      'subscription($w: ID) { deliveryUpdated(webhookId: $w) { phase } }',
      { w: { not: 'an id' } },
    ],
    ['a subscription with an ID that is not one, inline', 'subscription { deliveryUpdated(webhookId: 1.5) { phase } }', {}],
  ])('%s', async (_case, query, variables) => {
    const { results, error } = await overWs(query, variables);
    expect(results).toEqual([]);
    expect(error).toHaveLength(1);
    expect(error![0].extensions.code).toBe('VALIDATION_ERROR');
    expect(error![0].extensions.fields.length).toBe(1);
  });

  test('a mutation with U+0000 in its input stores nothing', async () => {
    const before = await countWebhookRows(h, tenant.id);
    const { error } = await overWs(CREATE, { input: { url: URL, events: ['*'], description: 'x\u0000' } });
    expect(error![0].extensions).toMatchObject({ code: 'VALIDATION_ERROR', fields: [{ field: 'input.description' }] });
    expect(await countWebhookRows(h, tenant.id)).toBe(before);
  });
});
