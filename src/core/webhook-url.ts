import { isIP } from 'node:net';
import { blockedBecause, type ParsedCidr } from './address.ts';

/** DESIGN.md's limit on a webhook URL, in characters (of the URL as typed and as normalised). */
export const URL_MAX_LENGTH = 2048;

/**
 * Control characters (C0, DEL, C1) and whitespace. WHATWG URL parsing silently removes tab, CR
 * and LF anywhere and trims the others at both ends, so a URL holding one would be stored and
 * shown as typed while another one is requested.
 */
const CONTROL_OR_SPACE = /[\p{Cc}\s]/u;

/** A webhook URL checked and normalised, or why it cannot be used (said of the URL field). */
export type WebhookUrl = { url: URL; href: string } | { problem: string };

/**
 * Checks a webhook URL and returns it normalised (WHATWG `URL.href`: lowercase scheme and host,
 * default port dropped, path percent-encoded): the one string that is stored, shown, checked by
 * the SSRF guard and requested. Refused: over URL_MAX_LENGTH, control characters or whitespace,
 * unparseable, a scheme other than https (http too with `allowHttp`), user-info, a fragment
 * (never sent to the endpoint). Pure: does not resolve the host.
 */
export function parseWebhookUrl(raw: string, allowHttp: boolean): WebhookUrl {
  if (raw.length > URL_MAX_LENGTH) return { problem: `must be at most ${URL_MAX_LENGTH} characters` };
  if (CONTROL_OR_SPACE.test(raw)) return { problem: 'must not contain whitespace or control characters' };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { problem: 'is not a valid URL' };
  }
  if (url.protocol === 'http:' && !allowHttp) {
    return { problem: 'must be an https:// URL (http:// is accepted only with HERALD_ALLOW_HTTP=true, for local development)' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { problem: allowHttp ? 'must be an http:// or https:// URL' : 'must be an https:// URL' };
  }
  if (url.username || url.password) return { problem: 'must not contain user-info (use auth instead)' };
  if (!url.hostname) return { problem: 'must have a host' };
  // `#` always starts the fragment, even an empty one, which URL.hash does not show.
  if (raw.includes('#')) return { problem: 'must not contain a fragment (#…): it is never sent to the endpoint' };
  if (url.href.length > URL_MAX_LENGTH) return { problem: `must be at most ${URL_MAX_LENGTH} characters once normalised` };
  return { url, href: url.href };
}

/**
 * Why the SSRF guard will refuse every delivery to `url` whatever DNS says: its host is an IP
 * literal (WHATWG URL has already normalised 2130706433, 0x7f000001 and 0177.0.0.1 to 127.0.0.1)
 * outside the public unicast ranges and outside `allowed` (HERALD_ALLOWED_CIDRS). Null for
 * hostnames (judged when resolved, at send time) and for allowed addresses.
 */
export function blockedHost(url: URL, allowed: ParsedCidr[]): { host: string; reason: string } | null {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (!isIP(host)) return null;
  const reason = blockedBecause(host, allowed);
  return reason === null ? null : { host, reason };
}
