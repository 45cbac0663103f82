import { describe, expect, it } from 'vitest';
import { isBlockedAddress, parseCidrs } from '../../src/core/address.ts';

describe('isBlockedAddress', () => {
  const blocked = [
    ['127.0.0.1', 'loopback'],
    ['127.0.0.2', 'loopback, not just .1'],
    ['10.0.0.1', 'private'],
    ['172.16.5.4', 'private'],
    ['192.168.1.1', 'private'],
    ['169.254.169.254', 'cloud metadata (link-local)'],
    ['100.64.0.1', 'CGNAT'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'this network 0/8'],
    ['192.0.0.8', 'IETF protocol assignments'],
    ['192.0.2.10', 'documentation'],
    ['198.51.100.10', 'documentation'],
    ['203.0.113.10', 'documentation'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['::', 'IPv6 unspecified'],
    ['::1', 'IPv6 loopback'],
    ['[::1]', 'bracketed, as in a URL'],
    ['fe80::1', 'IPv6 link-local'],
    ['fe80::1%eth0', 'IPv6 link-local with zone'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456:789a::1', 'unique-local'],
    ['fec0::1', 'site-local'],
    ['ff02::1', 'IPv6 multicast'],
    ['2001:db8::1', 'IPv6 documentation'],
    ['100::1', 'discard'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:7f00:1', 'IPv4-mapped loopback, hex form'],
    ['::ffff:169.254.169.254', 'IPv4-mapped metadata'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['::ffff:0:10.0.0.1', 'IPv4-translated private'],
    ['::127.0.0.1', 'IPv4-compatible loopback'],
    ['::8.8.8.8', 'IPv4-compatible (deprecated) even when public'],
    ['64:ff9b::7f00:1', 'NAT64 of loopback'],
    ['64:ff9b::a9fe:a9fe', 'NAT64 of metadata'],
    ['64:ff9b::10.0.0.1', 'NAT64 of private'],
    ['64:ff9b:1::a00:1', 'local-use NAT64'],
    ['2002:7f00:1::1', '6to4 of loopback'],
    ['2002:a00:1::1', '6to4 of private'],
    ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'Teredo (client 10.0.0.1)'],
    ['4000::1', 'outside 2000::/3'],
    ['2130706433', 'non-canonical IPv4 text fails closed'],
    ['0x7f.0.0.1', 'non-canonical IPv4 text fails closed'],
    ['not-an-ip', 'unparseable fails closed'],
    ['', 'empty fails closed'],
  ];
  it.each(blocked)('blocks %s (%s)', (ip) => {
    expect(isBlockedAddress(ip, [])).toBe(true);
  });

  const allowed = [
    ['8.8.8.8', 'public IPv4'],
    ['1.1.1.1', 'public IPv4'],
    ['93.184.216.34', 'public IPv4'],
    ['2606:4700:4700::1111', 'public IPv6'],
    ['2001:4860:4860::8888', 'public IPv6'],
    ['::ffff:8.8.8.8', 'IPv4-mapped public'],
    ['64:ff9b::808:808', 'NAT64 of public (DNS64 networks)'],
  ];
  it.each(allowed)('allows %s (%s)', (ip) => {
    expect(isBlockedAddress(ip, [])).toBe(false);
  });

  it('opens allowed ranges, also through their IPv4-mapped and NAT64 forms', () => {
    const loopback = parseCidrs(['127.0.0.0/8']);
    expect(isBlockedAddress('127.0.0.1', loopback)).toBe(false);
    expect(isBlockedAddress('127.255.0.9', loopback)).toBe(false);
    expect(isBlockedAddress('::ffff:127.0.0.1', loopback)).toBe(false);
    expect(isBlockedAddress('64:ff9b::7f00:1', loopback)).toBe(false);
    expect(isBlockedAddress('::1', loopback)).toBe(true);
    expect(isBlockedAddress('10.0.0.1', loopback)).toBe(true);

    const mixed = parseCidrs(['10.1.0.0/16', 'fd00::/8', '::1']);
    expect(isBlockedAddress('10.1.2.3', mixed)).toBe(false);
    expect(isBlockedAddress('10.2.0.1', mixed)).toBe(true);
    expect(isBlockedAddress('fd00::5', mixed)).toBe(false);
    expect(isBlockedAddress('::1', mixed)).toBe(false);
  });
});

describe('parseCidrs', () => {
  it('parses IPv4 and IPv6 ranges and bare addresses', () => {
    const [v4, v6, host] = parseCidrs(['127.0.0.0/8', ' fd00::/8 ', '192.168.1.5']);
    expect([v4[0].toString(), v4[1]]).toEqual(['127.0.0.0', 8]);
    expect([v6[0].toString(), v6[1]]).toEqual(['fd00::', 8]);
    expect([host[0].toString(), host[1]]).toEqual(['192.168.1.5', 32]);
    expect(parseCidrs([])).toEqual([]);
  });

  it.each(['banana', '10/8', '127.0.0.0/33', 'fd00::/129', '1.2.3.4/8/8', '1.2.3.4/', '1.2.3.4/x', ''])(
    'rejects %j with a clear message',
    (range) => {
      expect(() => parseCidrs([range])).toThrow(/Invalid address range/);
    },
  );
});
