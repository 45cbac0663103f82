// How an attempt row keeps its request and response header maps (attempt.request_headers and
// response_headers, text): compactly, because an attempt row is the largest thing Herald writes
// per delivery and as jsonb the maps were most of it (8 bytes of entry headers per header, every
// header name spelled out in every row). The maps read back exactly as jsonb gave them: the same
// names and values, in jsonb's key order.
import { TOKEN } from './http-fields.ts';

/**
 * Header names kept as one control character (the code is the name's index here plus one,
 * skipping `\n`): Herald's own request headers and common response headers. The stored rows
 * depend on this list: append to it, never reorder or remove (at most 30 names: 0x01–0x1f).
 */
const NAMES = [
  'content-type',
  'user-agent',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'herald-event-type',
  'herald-delivery-id',
  'herald-attempt',
  'herald-signature',
  'x-herald-signature',
  'authorization',
  'date',
  'connection',
  'keep-alive',
  'content-length',
  'transfer-encoding',
  'server',
  'cache-control',
  'etag',
  'vary',
  'x-request-id',
  'location',
  'retry-after',
  'set-cookie',
  'content-encoding',
  'access-control-allow-origin',
  'strict-transport-security',
  'x-content-type-options',
] as const;

const codeOf = (index: number) => String.fromCharCode(index + 1 >= 0x0a ? index + 2 : index + 1);
const CODES = new Map<string, string>(NAMES.map((name, i) => [name, codeOf(i)]));
const NAME_OF = new Map<string, string>(NAMES.map((name, i) => [codeOf(i), name]));

/**
 * A header map as attempt rows keep it. Headers are written in jsonb's key order (shorter names
 * first, then by bytes), one per line: a known name as its one-character code followed by the
 * value, any other name as `name:value`. A map a line cannot hold (a value with a line break, a
 * name that is not a token) is kept as its JSON text instead, which starts with `{` (never a
 * token character nor a code). `{}` is the empty string. A NUL in a value becomes U+FFFD, as in
 * response bodies: neither PostgreSQL's text nor the jsonb these maps were can hold one.
 */
export function encodeHeaderMap(headers: Record<string, string>): string {
  const entries = Object.entries(headers);
  let compact = true;
  for (const [name, value] of entries) {
    // A token has no `:` and no control characters: it cannot be taken for a code or hold the separator.
    if ((!CODES.has(name) && !TOKEN.test(name)) || value.includes('\n')) {
      compact = false;
      break;
    }
  }
  if (!compact) {
    entries.sort(([a], [b]) => jsonbKeyOrder(a, b));
    return JSON.stringify(Object.fromEntries(entries.map(([name, value]) => [name, withoutNul(value)])));
  }
  // Tokens are ASCII: jsonb's byte order is the strings' own order.
  entries.sort(([a], [b]) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
  let out = '';
  for (const [name, value] of entries) {
    if (out !== '') out += '\n';
    const code = CODES.get(name);
    out += code === undefined ? `${name}:${withoutNul(value)}` : code + withoutNul(value);
  }
  return out;
}

/** `value` with each NUL as U+FFFD (this runs for every header of every attempt: no copy without one). */
function withoutNul(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}

/** The header map `encodeHeaderMap` gave `text` for (or jsonb's text of one: `{…}`). */
export function decodeHeaderMap(text: string): Record<string, string> {
  if (text.startsWith('{')) return JSON.parse(text) as Record<string, string>;
  const headers: Record<string, string> = {};
  if (text === '') return headers;
  for (const line of text.split('\n')) {
    const name = NAME_OF.get(line[0]);
    if (name !== undefined) {
      headers[name] = line.slice(1);
    } else {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon)] = line.slice(colon + 1);
    }
  }
  return headers;
}

/** jsonb's order of object keys: by length in bytes, then bytewise. */
function jsonbKeyOrder(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length - y.length || Buffer.compare(x, y);
}
