import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;

/** An address range from `HERALD_ALLOWED_CIDRS`: network address and prefix length. */
export type ParsedCidr = [Address, number];

/**
 * Parses ranges such as `127.0.0.0/8` or `fd00::/8`; a bare address means that one host.
 * Only plain dotted-quad IPv4 is accepted: ipaddr.js would read `10/8` as 0.0.0.10/8.
 */
export function parseCidrs(list: string[]): ParsedCidr[] {
  return list.map((raw) => {
    const [address, prefix, ...rest] = raw.trim().split('/');
    const parsed = address.includes('%') ? null : parseAddress(address);
    if (!parsed || rest.length > 0 || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) {
      throw new Error(`Invalid address range "${raw}" (expected e.g. 127.0.0.0/8 or fd00::/8)`);
    }
    const maxBits = parsed.kind() === 'ipv4' ? 32 : 128;
    const bits = prefix === undefined ? maxBits : Number(prefix);
    if (bits > maxBits) {
      throw new Error(`Invalid address range "${raw}": prefix length must be at most ${maxBits}`);
    }
    return [parsed, bits];
  });
}

/**
 * The SSRF rule: may Herald connect to this address? Only ordinary public unicast is allowed,
 * unless the address (or the IPv4 address it wraps) lies in one of the `allowed` ranges.
 * Anything that does not parse is blocked: failing closed is the point.
 */
export function isBlockedAddress(ip: string, allowed: ParsedCidr[]): boolean {
  return blockedBecause(ip, allowed) !== null;
}

/**
 * Why isBlockedAddress blocks `ip` (e.g. "a private address"), for messages; null when it is
 * allowed. The one place the rule is decided.
 */
export function blockedBecause(ip: string, allowed: ParsedCidr[]): string | null {
  const address = parseAddress(ip);
  if (!address) return 'not an address Herald can judge';
  if (address.kind() === 'ipv4') {
    return isAllowed(address, allowed) || address.range() === 'unicast' ? null : describeRange(address.range());
  }
  const v6 = address as ipaddr.IPv6;
  const embedded = embeddedIPv4(v6);
  if (isAllowed(v6, allowed) || (embedded && isAllowed(embedded, allowed))) return null;
  // An IPv6 form that reaches an IPv4 host is judged by that host.
  if (embedded) return embedded.range() === 'unicast' ? null : `${describeRange(embedded.range())} (${embedded})`;
  if (isPublicIPv6(v6)) return null;
  if (v6.match(IPV4_COMPATIBLE) && v6.range() === 'unicast') return 'an IPv4-compatible IPv6 address';
  return v6.range() === 'unicast' ? 'an IPv6 address outside 2000::/3 (not routed)' : describeRange(v6.range());
}

/** ipaddr.js's range names, in words. */
const RANGES: Record<string, string> = {
  private: 'a private address',
  loopback: 'a loopback address',
  linkLocal: 'a link-local address (where cloud metadata services answer)',
  uniqueLocal: 'a unique-local (private) address',
  unspecified: 'the unspecified address',
  carrierGradeNat: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  reserved: 'a reserved address',
};

function describeRange(range: string): string {
  return RANGES[range] ?? `a non-public address (${range})`;
}

/**
 * Parses the way the operating system will read the address. ipaddr.js alone reads
 * `::8.8.8.8` as IPv4-mapped (::ffff:8.8.8.8) where the kernel sees IPv4-compatible
 * (::808:808), so IPv6 text is first put in canonical form by the WHATWG URL parser.
 * Zone ids (`fe80::1%eth0`) do not change the range, so they are dropped.
 */
function parseAddress(ip: string): Address | null {
  const bare = ip.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return ipaddr.IPv4.parse(bare);
  if (family !== 6) return null;
  return ipaddr.IPv6.parse(new URL(`http://[${bare}]/`).hostname.slice(1, -1));
}

const GLOBAL_UNICAST = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
// IPv4-compatible (::a.b.c.d, deprecated by RFC 4291) share ::/96 with :: and ::1.
const IPV4_COMPATIBLE = ipaddr.IPv6.parseCIDR('::/96');

/**
 * The IPv4 address an IPv6 address delivers to, for the forms the kernel or a NAT64 gateway
 * translate: IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d) and the
 * well-known NAT64 prefix. Other tunnelling forms (6to4, Teredo, local-use NAT64
 * 64:ff9b:1::/48) are not unwrapped: they are not 'unicast', so they stay blocked outright.
 */
function embeddedIPv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  const range = address.range();
  const translated = range === 'ipv4Mapped' || range === 'rfc6145' || address.match(NAT64_WELL_KNOWN);
  if (!translated) return null;
  const [high, low] = address.parts.slice(6);
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** Public IPv6: ipaddr.js calls it 'unicast' and it is in 2000::/3, the only block routed today. */
function isPublicIPv6(address: ipaddr.IPv6): boolean {
  if (address.match(IPV4_COMPATIBLE)) return false;
  return address.range() === 'unicast' && address.match(GLOBAL_UNICAST);
}

function isAllowed(address: Address, allowed: ParsedCidr[]): boolean {
  // ipaddr.js throws when matching across families, so compare like with like.
  return allowed.some(([network, bits]) => network.kind() === address.kind() && address.match(network, bits));
}
