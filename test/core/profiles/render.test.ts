import { createHmac } from 'node:crypto';
import jsonata from 'jsonata';
import { describe, expect, test } from 'vitest';
import { parseDefinition } from '../../../src/core/profiles/definition.ts';
import { compileExpression, ExpressionError } from '../../../src/core/profiles/expressions.ts';
import { CompiledProfile, type ExpressionInput, envelopeInput, eventInput, TransformError } from '../../../src/core/profiles/render.ts';
import { generateSecret, secretFormatError, signingKeyBytes } from '../../../src/core/secrets.ts';

const tenant = { id: 'ten_1', name: 'acme', externalId: 'proj_9' };
const event = {
  id: 'evt_01m8n514tne8nj2agspx49ygs5',
  type: 'message.delivered',
  channel: 'sms',
  createdAt: new Date('2026-11-22T10:00:00.123Z'),
  data: { messageId: 'm1', list: [1], empty: [] },
  tenant,
};

function profile(definition: unknown): CompiledProfile {
  const parsed = parseDefinition(definition);
  if ('errors' in parsed) throw new Error(JSON.stringify(parsed.errors));
  return new CompiledProfile({ id: 'dpv_1', name: 'p', definition: parsed.definition });
}

const attempt = (secrets: string[] = [], extra: Partial<Parameters<CompiledProfile['renderHeaders']>[0]> = {}) => ({
  eventId: event.id,
  eventType: event.type,
  event: () => eventInput(event),
  deliveryId: 'dlv_7',
  attemptNumber: 2,
  timestamp: 1_800_000_000,
  body: '{"a":1}',
  secrets,
  customHeaders: [],
  authHeaders: {},
  userAgent: 'Herald/test',
  ...extra,
});

describe('expression input', () => {
  test('bodies see the event, its tenant, idHex and the time three ways', async () => {
    const p = profile({
      signature: null,
      body: '{"id": id, "hex": idHex, "type": type, "ch": channel, "t": tenantId, "tenant": tenant, "ts": timestamp, "ms": timestampMs, "s": timestampS, "data": data}',
    });
    expect(JSON.parse((await p.renderBody(eventInput(event)))!)).toEqual({
      id: event.id,
      hex: '01a22a509355722b212a19b7489f4325',
      type: 'message.delivered',
      ch: 'sms',
      t: 'ten_1',
      tenant,
      ts: '2026-11-22T10:00:00.123Z',
      ms: 1_795_341_600_123,
      s: 1_795_341_600,
      data: event.data,
    });
  });

  test('arrays in data stay arrays, nulls stay null, and the JSON is compact', async () => {
    const p = profile({ signature: null, body: '{"data": data, "nothing": data.missing, "ch": channel}' });
    expect(await p.renderBody(eventInput({ ...event, channel: null }))).toBe('{"data":{"messageId":"m1","list":[1],"empty":[]},"ch":null}');
  });

  test('headers also see delivery.id and attempt.number / attempt.timestampS', async () => {
    const p = profile({
      signature: null,
      heraldHeaders: false,
      headers: {
        'X-Event': 'type',
        'X-Delivery': 'delivery.id',
        'X-Try': 'attempt.number',
        'X-Ts': 'attempt.timestampS',
        'X-None': 'data.nope',
      },
    });
    const { headers } = await p.renderHeaders(attempt());
    expect(headers).toEqual({
      'content-type': 'application/json',
      'user-agent': 'Herald/test',
      'x-event': 'message.delivered',
      'x-delivery': 'dlv_7',
      'x-try': '2',
      'x-ts': '1800000000',
    });
  });
});

test('from a stored envelope, header expressions see the same event, parsed only when read', async () => {
  const envelope = JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    tenantId: 'ten_1',
    channel: 'sms',
    data: event.data,
  });
  const p = profile({
    signature: null,
    headers: {
      'X-All': '$string([id, idHex, type, channel, tenantId, tenant.externalId, data.messageId, timestamp, timestampMs, timestampS])',
    },
  });
  const render = (input: () => ExpressionInput) => p.renderHeaders({ ...attempt(), event: input });
  const lazy = await render(() => envelopeInput(envelope, { id: event.id, type: event.type, tenant }));
  const eager = await render(() => eventInput(event));
  expect(lazy.headers['x-all']).toBe(eager.headers['x-all']);
  expect(lazy.headers['x-all']).toContain('"m1"');
  // A profile without header expressions never asks for the input at all.
  const plain = profile({ signature: null });
  await plain.renderHeaders({
    ...attempt(),
    event: () => {
      throw new Error('read');
    },
  });
});

describe('expressions that cannot be used', () => {
  test.each(['$now()', '$millis()', '$random()', '($f := $now; $f())', '{"a": $string($millis())}'])(
    'a body refuses %s when compiled',
    (source) => {
      expect(() => compileExpression(source, { body: true })).toThrow(/not allowed in a body/);
    },
  );

  test('$eval cannot reach them in a body either', async () => {
    const p = profile({ signature: null, body: '$eval("$now()")' });
    await expect(p.renderBody(eventInput(event))).rejects.toThrow(TransformError);
  });

  test('headers may use the clock', async () => {
    const p = profile({ signature: null, headers: { 'X-Sent': '$millis()' } });
    expect(Number((await p.renderHeaders(attempt())).headers['x-sent'])).toBeGreaterThan(1_700_000_000_000);
  });

  test('a syntax error names its position', () => {
    expect(() => compileExpression('{"a": }')).toThrow(ExpressionError);
    expect(() => compileExpression('{"a": }')).toThrow(/at character 7/);
  });

  test('evaluation is time-boxed: an endless recursion and long loops fail within the bound', async () => {
    const sources = ['($f := function($n) { $f($n + 1) }; $f(0))', '$count([1..5000000].($ * 2))', '$sum([1..90000].($sum([1..90000])))'];
    for (const source of sources) {
      const expression = compileExpression(source, { timeoutMs: 50 });
      const started = Date.now();
      await expect(expression.evaluate({})).rejects.toThrow(ExpressionError);
      expect(Date.now() - started, source).toBeLessThan(1000);
    }
    await expect(compileExpression('$sum([1..90000].($sum([1..90000])))', { timeoutMs: 50 }).evaluate({})).rejects.toThrow(
      'evaluation took longer than 50 ms',
    );
  });

  test('a failing body or header is a TransformError naming the field', async () => {
    await expect(profile({ signature: null, body: 'nothing' }).renderBody(eventInput(event))).rejects.toThrow(/^body: .*selected nothing/);
    await expect(profile({ signature: null, body: '$number("x")' }).renderBody(eventInput(event))).rejects.toThrow(TransformError);
    await expect(profile({ signature: null, headers: { 'X-Obj': 'data' } }).renderHeaders(attempt())).rejects.toThrow(
      /^headers.X-Obj: gave object/,
    );
    await expect(profile({ signature: null, headers: { 'X-Nl': '"a\\nb"' } }).renderHeaders(attempt())).rejects.toThrow(
      /valid header value/,
    );
  });
});

describe('signatures', () => {
  const spec = (format: string, signs = 'BODY', key = 'SECRET_BYTES', encoding = 'HEX') => ({
    signature: { header: 'X-Sig', signs, key, encoding, format },
  });
  const hmac = (key: string | Buffer, content: string, encoding: 'hex' | 'base64' = 'hex') =>
    createHmac('sha256', key).update(content).digest(encoding);
  const [newer, older] = ['secret-newer-0123456789', 'secret-older-0123456789'];

  test('"{sig}" and "sha256={sig}" carry the newest secret only', async () => {
    expect((await profile(spec('{sig}')).renderHeaders(attempt([newer, older]))).headers['x-sig']).toBe(hmac(newer, '{"a":1}'));
    expect((await profile(spec('sha256={sig}')).renderHeaders(attempt([newer, older]))).headers['x-sig']).toBe(
      `sha256=${hmac(newer, '{"a":1}')}`,
    );
  });

  test('"t={t},v1={sig}" signs "{t}.{body}" with every live secret', async () => {
    const { headers, logged } = await profile(spec('t={t},v1={sig}', 'TIMESTAMP_DOT_BODY')).renderHeaders(attempt([newer, older]));
    const content = '1800000000.{"a":1}';
    expect(headers['x-sig']).toBe(`t=1800000000,v1=${hmac(newer, content)},v1=${hmac(older, content)}`);
    expect(logged['x-sig']).toBe('[redacted]');
  });

  test('"v1,{sig}" signs "{id}.{t}.{body}", space-separated, base64', async () => {
    const p = profile(spec('v1,{sig}', 'ID_DOT_TIMESTAMP_DOT_BODY', 'SECRET_BYTES', 'BASE64'));
    const content = `${event.id}.1800000000.{"a":1}`;
    expect((await p.renderHeaders(attempt([newer, older]))).headers['x-sig']).toBe(
      `v1,${hmac(newer, content, 'base64')} v1,${hmac(older, content, 'base64')}`,
    );
  });

  test('keys: whsec_ decoded, the string’s bytes, hex decoded', async () => {
    const whsec = generateSecret('WHSEC');
    const hex = generateSecret('HEX');
    const whsecProfile = profile({ ...spec('{sig}', 'BODY', 'WHSEC_DECODED'), secret: { format: 'WHSEC' } });
    expect((await whsecProfile.renderHeaders(attempt([whsec]))).headers['x-sig']).toBe(
      hmac(Buffer.from(whsec.slice(6), 'base64'), '{"a":1}'),
    );
    const hexProfile = profile({ ...spec('{sig}', 'BODY', 'HEX_DECODED'), secret: { format: 'HEX' } });
    expect((await hexProfile.renderHeaders(attempt([hex]))).headers['x-sig']).toBe(hmac(Buffer.from(hex, 'hex'), '{"a":1}'));
    expect(signingKeyBytes(hex, 'SECRET_BYTES').toString()).toBe(hex);
  });

  test('a preview shows the format with each signature redacted', async () => {
    const p = profile(spec('t={t},v1={sig}', 'TIMESTAMP_DOT_BODY'));
    expect((await p.renderHeaders(attempt([newer, older], { redactSignatures: true }))).headers['x-sig']).toBe(
      't=1800000000,v1=[redacted],v1=[redacted]',
    );
  });

  test('the webhook’s auth header is redacted in the log and not replaced by a profile header', async () => {
    const p = profile({ signature: null, headers: { 'X-Token': '"from-profile"' } });
    const { headers, logged } = await p.renderHeaders(attempt([], { authHeaders: { 'x-token': 'secret-token' } }));
    expect(headers['x-token']).toBe('secret-token');
    expect(logged['x-token']).toBe('[redacted]');
  });
});

describe('definitions refused, naming the field', () => {
  test.each([
    [{ signature: null, bogus: true }, 'bogus'],
    [
      { signature: { header: 'X-S', signs: 'BODY', key: 'SECRET_BYTES', encoding: 'HEX', format: '{sig}', algorithm: 'md5' } },
      'signature.algorithm',
    ],
    [{ signature: null, headers: { 'content-length': '"1"' } }, 'headers.content-length'],
    [{ signature: null, headers: { 'Herald-Attempt': '"1"' } }, 'headers.Herald-Attempt'],
    [{ signature: null, headers: { 'bad name': '"1"' } }, 'headers.bad name'],
    [{ signature: { header: 'X-S', signs: 'BODY', key: 'HEX_DECODED', encoding: 'HEX', format: '{sig}' } }, 'signature.key'],
    [
      { signature: { header: 'X-S', signs: 'BODY', key: 'SECRET_BYTES', encoding: 'HEX', format: '{sig}' }, headers: { 'x-s': 'type' } },
      'headers.x-s',
    ],
    [{ signature: { header: 'Content-Type', signs: 'BODY', key: 'SECRET_BYTES', encoding: 'HEX', format: '{sig}' } }, 'signature.header'],
    [{ signature: null, defaults: { timeoutMs: 100 } }, 'defaults.timeoutMs'],
    [{ signature: null, secret: { scope: 'PROJECT' } }, 'secret.scope'],
    [{}, 'signature'],
  ])('%j → %s', (definition, field) => {
    const parsed = parseDefinition(definition);
    expect('errors' in parsed && parsed.errors.map((e) => e.field)).toContain(field);
  });
});

describe('secret formats', () => {
  test.each([
    ['WHSEC', /^whsec_[A-Za-z0-9+/]{43}=$/],
    ['HEX', /^[0-9a-f]{64}$/],
    ['TOKEN', /^[A-Za-z0-9_-]{43}$/],
  ] as const)('%s: generated as %s, and a generated one imports', (format, pattern) => {
    const secret = generateSecret(format);
    expect(secret).toMatch(pattern);
    expect(secretFormatError(format, secret)).toBeNull();
  });

  test.each([
    ['WHSEC', 'whsec_short'],
    ['WHSEC', `whsec_${Buffer.alloc(16).toString('base64')}`],
    ['WHSEC', 'no-prefix-0123456789012345678901234567890123'],
    ['HEX', 'abc'],
    ['HEX', 'g'.repeat(64)],
    ['TOKEN', 'short'],
    ['TOKEN', 'has a space in it, which no header likes'],
  ] as const)('%s refuses %s', (format, secret) => {
    expect(secretFormatError(format, secret)).toMatch(/^must be /);
  });
});

describe('header expressions evaluated without JSONata', () => {
  // Paths of names and $string() of one skip JSONata's evaluator; what they give must be JSONata's.
  const inputs: Record<string, unknown>[] = [
    { type: 'message.sent', delivery: { id: 'dlv_1' }, attempt: { timestampS: 1_800_000_000 } },
    { type: null, delivery: null, attempt: { timestampS: 1.5 } },
    { type: 42, delivery: { id: ['a'] }, attempt: { timestampS: -0 } },
    { type: { nested: true }, delivery: [{ id: 'x' }, { id: 'y' }], attempt: { timestampS: 2 ** 60 } },
    { type: true, delivery: 'text', attempt: { timestampS: 'already text' } },
    {},
  ];
  test.each(['type', 'delivery.id', '$string(attempt.timestampS)', '$string(type)', '$string(delivery.id)', 'attempt'])(
    '%s gives what JSONata gives',
    async (source) => {
      const direct = compileExpression(source);
      const reference = jsonata(source);
      // Compared as JSON: JSONata's own sequences carry bookkeeping properties.
      const json = async (value: Promise<unknown>) => JSON.stringify(await value) ?? 'undefined';
      for (const input of inputs)
        expect(await json(direct.evaluate(input)), JSON.stringify(input)).toBe(await json(reference.evaluate(input)));
    },
  );
});
