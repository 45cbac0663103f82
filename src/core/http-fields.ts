/**
 * What an HTTP field value may hold as Herald sends it: tab, space, visible ASCII and the
 * characters U+0080–U+00FF, which go out as one Latin-1 byte each (RFC 9110 §5.5 field-value;
 * the HTTP client refuses anything else — control characters, line breaks, NUL, any character
 * above U+00FF — and the attempt would fail every time).
 */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** An RFC 9110 token character (tchar): what header names are made of. */
const TCHAR = "[!#$%&'*+.^_`|~0-9A-Za-z-]";

/** An RFC 9110 token of any length: a header name as a receiver may send it. */
export const TOKEN = new RegExp(`^${TCHAR}+$`);

/**
 * A header name Herald accepts from a user (custom headers, outbound auth, delivery profiles): an
 * RFC 9110 token, 1–100 characters.
 */
export const HEADER_NAME = new RegExp(`^${TCHAR}{1,100}$`);

/** Whether `value` can be sent as an HTTP field value (see FIELD_VALUE). */
export function isFieldValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

/** Why `value` cannot be sent, in words for an error message. */
export const FIELD_VALUE_RULE =
  'only tabs, spaces, visible ASCII and Latin-1 characters (U+0080–U+00FF), no line breaks or other control characters';

/**
 * Headers HTTP itself manages on a connection: the HTTP client sets them, or refuses them from a
 * caller (undici: `expect`, `upgrade`, `keep-alive` make every attempt fail before anything is
 * sent). Neither a webhook's custom headers nor a delivery profile may set them.
 */
export const HTTP_MANAGED_HEADERS: ReadonlySet<string> = new Set([
  'content-length',
  'content-encoding',
  'transfer-encoding',
  'host',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
]);
