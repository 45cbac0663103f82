import { expect, test } from 'vitest';
import { decodeHeaderMap, encodeHeaderMap } from '../../src/core/header-log.ts';

// What the bench's attempts log: Herald's request headers (the signature redacted) and a Node
// receiver's answer.
const SENT = {
  'user-agent': 'Herald/0.1.0',
  'webhook-id': 'evt_01m8p4axe640z7gpc0vp2y94k6',
  'content-type': 'application/json',
  'herald-attempt': '1',
  'herald-event-type': 'message.delivered',
  'webhook-signature': '[redacted]',
  'webhook-timestamp': '1796039079',
  'herald-delivery-id': 'dlv_01m8p4axe8wk17hgp9hsm3szzq',
};
const ANSWERED = {
  date: 'Mon, 30 Nov 2026 11:44:39 GMT',
  connection: 'keep-alive',
  'keep-alive': 'timeout=60',
  'content-type': 'text/plain',
  'content-length': '2',
};

/** The map with its keys in jsonb's order (by length in bytes, then bytewise), as jsonb gave it back. */
function jsonbOrdered(map: Record<string, string>): Record<string, string> {
  const bytes = (s: string) => Buffer.from(s);
  return Object.fromEntries(
    Object.entries(map).sort(([a], [b]) => bytes(a).length - bytes(b).length || Buffer.compare(bytes(a), bytes(b))),
  );
}

/** Decoding gives the same map with the same key order as jsonb did (JSON.stringify shows the order). */
function expectRoundTrip(map: Record<string, string>): string {
  const text = encodeHeaderMap(map);
  expect(JSON.stringify(decodeHeaderMap(text))).toBe(JSON.stringify(jsonbOrdered(map)));
  return text;
}

test('Herald’s request headers and a plain answer keep each known name as one character', () => {
  const sent = expectRoundTrip(SENT);
  const answered = expectRoundTrip(ANSWERED);
  // The values, one separator a header and one character a name.
  const valueBytes = (m: Record<string, string>) => Object.values(m).join('').length;
  expect(sent.length).toBe(valueBytes(SENT) + 2 * Object.keys(SENT).length - 1);
  expect(answered.length).toBe(valueBytes(ANSWERED) + 2 * Object.keys(ANSWERED).length - 1);
  // As jsonb these took 313 and 158 bytes of the row; as text (with its length) 145 and 70.
  expect([Buffer.byteLength(sent), Buffer.byteLength(answered)]).toEqual([141, 69]);
});

test('other names are spelled out, and values may hold colons, tabs and any other character but a line break', () => {
  const text = expectRoundTrip({
    'X-Customer-Ref': 'acme:42',
    'x-route': 'sms/eu',
    link: '<https://example.com/a>; rel="next"',
    'x-tab': 'a\tb',
    'x-empty': '',
    'x-unicode': 'naïve ✓ 😀',
    'content-type': '',
    'x-json': '{"a":1}',
    'x-ctl': '\u0001\u001f',
  });
  expect(text).toContain('X-Customer-Ref:acme:42');
  expect(text.startsWith('{')).toBe(false);
});

test('a map a line cannot hold is kept as JSON text, in jsonb’s order', () => {
  const odds: Record<string, string>[] = [
    { 'x-multi': 'a\nb', 'content-type': 'text/plain' },
    { 'bad name': 'x', a: 'b' },
    { nämé: '1', x: '2', ab: '3' },
    { '': 'empty name' },
  ];
  for (const odd of odds) {
    const text = expectRoundTrip(odd);
    expect(text.startsWith('{')).toBe(true);
  }
});

test('a NUL in a value becomes U+FFFD (text and jsonb cannot hold one); the rest of the map is kept', () => {
  const text = encodeHeaderMap({ 'x-nul': 'a\u0000b', date: 'x' });
  expect(text.includes('\u0000')).toBe(false);
  expect(decodeHeaderMap(text)).toEqual({ date: 'x', 'x-nul': 'a\uFFFDb' });
});

test('an empty map is the empty string; jsonb’s own text is read as well', () => {
  expect(encodeHeaderMap({})).toBe('');
  expect(decodeHeaderMap('')).toEqual({});
  expect(decodeHeaderMap('{"date": "x", "connection": "close"}')).toEqual({ date: 'x', connection: 'close' });
});

test('keys are written in jsonb’s order whatever order they came in', () => {
  const reversed = Object.fromEntries(Object.entries(SENT).reverse());
  expect(encodeHeaderMap(reversed)).toBe(encodeHeaderMap(SENT));
  expect(Object.keys(decodeHeaderMap(encodeHeaderMap(reversed)))).toEqual(Object.keys(jsonbOrdered(SENT)));
});
