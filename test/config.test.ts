// The limits' settings: documented defaults, and a bad value stops Herald naming the variable.
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.ts';

describe('limits and rate limits', () => {
  test('defaults as the README lists them', () => {
    const config = loadConfig({});
    expect(config.graphiql).toBe(true);
    expect(config.graphqlLimits).toEqual({
      maxDepth: 12,
      maxAliases: 30,
      maxTokens: 10_000,
      maxCost: 100_000,
      maxRequestBytes: 16 * 1024 * 1024,
    });
    expect(config.rateLimits).toEqual({
      tenant: { rate: 100, burst: 200 },
      admin: { rate: 1000, burst: 2000 },
      authFailure: { rate: 1, burst: 30 },
    });
    expect(config.trustedProxies).toEqual([]);
  });

  test('each is set by its variable; a rate may be a fraction, or 0 for no limit', () => {
    const config = loadConfig({
      HERALD_GRAPHIQL: 'false',
      HERALD_MAX_DEPTH: '8',
      HERALD_MAX_COST: '5000',
      HERALD_RATE_LIMIT: '0.5',
      HERALD_RATE_BURST: '5',
      HERALD_AUTH_FAILURE_RATE_LIMIT: '0',
      HERALD_TRUSTED_PROXIES: 'loopback, 10.0.0.0/8',
    });
    expect(config.graphiql).toBe(false);
    expect(config.graphqlLimits).toMatchObject({ maxDepth: 8, maxCost: 5000 });
    expect(config.rateLimits.tenant).toEqual({ rate: 0.5, burst: 5 });
    expect(config.rateLimits.authFailure.rate).toBe(0);
    expect(config.trustedProxies).toEqual(['loopback', '10.0.0.0/8']);
  });

  test.each([
    ['HERALD_RATE_LIMIT', '-1', /^Invalid HERALD_RATE_LIMIT="-1": must be 0 \(off\) or more$/],
    ['HERALD_RATE_BURST', '0', /^Invalid HERALD_RATE_BURST="0": must be at least 1$/],
    ['HERALD_MAX_DEPTH', '2.5', /^Invalid HERALD_MAX_DEPTH="2.5": must be a whole number$/],
    ['HERALD_MAX_REQUEST_BYTES', '100', /^Invalid HERALD_MAX_REQUEST_BYTES="100": must be at least 1024$/],
    ['HERALD_GRAPHIQL', 'maybe', /^Invalid HERALD_GRAPHIQL="maybe": must be true or false$/],
    ['HERALD_TRUSTED_PROXIES', '10.0.0.0/99', /^Invalid HERALD_TRUSTED_PROXIES="10.0.0.0\/99": /],
    ['HERALD_ALLOWED_CIDRS', '10.0.0.0/99', /^Invalid HERALD_ALLOWED_CIDRS="10.0.0.0\/99": /],
  ])('%s=%s stops Herald with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});
