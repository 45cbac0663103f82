// Settings read from the environment: documented defaults, and a bad value stops Herald naming the variable.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { ConfigError, loadConfig, movedDataDirProblem } from '../src/config.ts';

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
    ['HERALD_GRAPHIQL', 'maybe', /^Invalid HERALD_GRAPHIQL="maybe": must be true or false \(or 1\/0, yes\/no\)$/],
    ['HERALD_TRUSTED_PROXIES', '10.0.0.0/99', /^Invalid HERALD_TRUSTED_PROXIES="10.0.0.0\/99": /],
    ['HERALD_ALLOWED_CIDRS', '10.0.0.0/99', /^Invalid HERALD_ALLOWED_CIDRS="10.0.0.0\/99": /],
  ])('%s=%s stops Herald with a message naming it', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });
});

describe('durations: a unit, and a floor where less breaks what they guard', () => {
  test.each([
    // A lease of 0 was accepted: each pass of the worker found the lease lapsed mid-request and sent the delivery again.
    ['HERALD_LEASE', '0s', /^Invalid HERALD_LEASE="0s": must be at least 2s: a delivery whose lease lapses mid-request is sent again$/],
    ['HERALD_LEASE', '1500ms', /^Invalid HERALD_LEASE="1500ms": must be at least 2s/],
    // A number alone was read as seconds: "30" meant as days deleted every attempt older than 30 seconds.
    ['HERALD_RETENTION', '30', /^Invalid HERALD_RETENTION="30": needs a unit: ms, s, m, h or d \(e\.g\. "30s" or "30d"\)$/],
    ['HERALD_DISABLE_AFTER', '5', /^Invalid HERALD_DISABLE_AFTER="5": needs a unit/],
    ['HERALD_LEASE', '30', /^Invalid HERALD_LEASE="30": needs a unit/],
    // The message offered "a number of seconds", which the line above refuses.
    [
      'HERALD_LEASE',
      '30sec',
      /^Invalid HERALD_LEASE="30sec": must be a number with a unit ms, s, m, h or d \(e\.g\. "30s", "12h", "1500ms"\)$/,
    ],
    ['HERALD_RETENTION', '59m', /^Invalid HERALD_RETENTION="59m": must be at least 1h: attempts and events older than this are deleted$/],
    ['HERALD_DISABLE_AFTER', '0', /^Invalid HERALD_DISABLE_AFTER="0": must be at least 1s/],
  ])('%s=%s stops Herald with a message naming it, and the unit or the floor', (name, value, message) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(message);
  });

  test('at the floor and above they are taken as given; 0 needs no unit', () => {
    const config = loadConfig({ HERALD_LEASE: '2s', HERALD_RETENTION: '1h', HERALD_DISABLE_AFTER: '1s' });
    expect(config.leaseMs).toBe(2000);
    expect(config.retentionMs).toBe(3_600_000);
    expect(config.disableAfterMs).toBe(1000);
    expect(loadConfig({}).leaseMs).toBe(30_000);
    expect(loadConfig({}).retentionMs).toBe(30 * 24 * 3_600_000);
    expect(loadConfig({ HERALD_SHUTDOWN_DRAIN: '0' }).shutdownDrainMs).toBe(0);
  });
});

describe('the customer portal', () => {
  test('HERALD_PUBLIC_URL: an http(s) URL, kept without its trailing slash; unset means the listen address', () => {
    expect(loadConfig({}).publicUrl).toBeUndefined();
    expect(loadConfig({ HERALD_PUBLIC_URL: 'https://hooks.example.com/' }).publicUrl).toBe('https://hooks.example.com');
    expect(loadConfig({ HERALD_PUBLIC_URL: 'https://example.com/herald//' }).publicUrl).toBe('https://example.com/herald');
    for (const bad of [
      'hooks.example.com',
      'ftp://example.com',
      'https://user:pw@example.com',
      'https://example.com/?a=1',
      'https://example.com/#x',
    ]) {
      expect(() => loadConfig({ HERALD_PUBLIC_URL: bad }), bad).toThrow(/^Invalid HERALD_PUBLIC_URL=/);
    }
  });

  test('HERALD_PORTAL_FRAME_ANCESTORS: origins separated by spaces or commas; anything else stops the start', () => {
    expect(loadConfig({}).portalFrameAncestors).toEqual([]);
    expect(
      loadConfig({ HERALD_PORTAL_FRAME_ANCESTORS: 'https://app.example.com, http://localhost:3000  https://*.example.org' })
        .portalFrameAncestors,
    ).toEqual(['https://app.example.com', 'http://localhost:3000', 'https://*.example.org']);
    // Whatever could change the meaning of the CSP header (a quote, a semicolon, a path) is refused.
    for (const bad of [
      "'self'",
      'https://a.example.com; script-src *',
      'app.example.com',
      'https://a.example.com/path',
      '*',
      'https://*',
    ]) {
      expect(() => loadConfig({ HERALD_PORTAL_FRAME_ANCESTORS: bad }), bad).toThrow(
        /^Invalid HERALD_PORTAL_FRAME_ANCESTORS=.*is not an origin/,
      );
    }
  });
});

describe('operational events', () => {
  test('HERALD_EXHAUSTED_WINDOW: one minute unless set', () => {
    expect(loadConfig({}).exhaustedWindowMs).toBe(60_000);
    expect(loadConfig({ HERALD_EXHAUSTED_WINDOW: '5m' }).exhaustedWindowMs).toBe(300_000);
    expect(() => loadConfig({ HERALD_EXHAUSTED_WINDOW: 'soon' })).toThrow(/^Invalid HERALD_EXHAUSTED_WINDOW="soon": /);
  });
});

describe('the shutdown drain', () => {
  test('5 s by default, or half of a shorter HERALD_SHUTDOWN_TIMEOUT; up to half of it when set', () => {
    expect(loadConfig({}).shutdownDrainMs).toBe(5000);
    expect(loadConfig({ HERALD_SHUTDOWN_TIMEOUT: '6s' }).shutdownDrainMs).toBe(3000);
    expect(loadConfig({ HERALD_SHUTDOWN_DRAIN: '15s' }).shutdownDrainMs).toBe(15_000);
    expect(loadConfig({ HERALD_SHUTDOWN_DRAIN: '0' }).shutdownDrainMs).toBe(0);
    expect(() => loadConfig({ HERALD_SHUTDOWN_DRAIN: '15001ms' })).toThrow(
      /^Invalid HERALD_SHUTDOWN_DRAIN="15001ms": must be at most half of HERALD_SHUTDOWN_TIMEOUT/,
    );
  });
});

describe('booleans', () => {
  test.each([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    [' yes ', true],
    ['YES', true],
    ['1', true],
    ['false', false],
    ['False', false],
    ['FALSE', false],
    ['No', false],
    ['0', false],
  ])('HERALD_ALLOW_HTTP=%j is %s (any case, spaces around ignored)', (value, expected) => {
    expect(loadConfig({ HERALD_ALLOW_HTTP: value }).allowHttp).toBe(expected);
    expect(loadConfig({ HERALD_GRAPHIQL: value }).graphiql).toBe(expected);
  });

  test.each(['maybe', 'on', 'ye s', 'truee'])('HERALD_ALLOW_HTTP=%j is refused, saying what is accepted', (value) => {
    expect(() => loadConfig({ HERALD_ALLOW_HTTP: value })).toThrow(
      `Invalid HERALD_ALLOW_HTTP=${JSON.stringify(value)}: must be true or false (or 1/0, yes/no)`,
    );
  });
});

describe('ports: one message per setting, saying the range it accepts', () => {
  const LISTEN = 'must be a port number from 0 to 65535 (0: any free port)';
  const PG = 'must be a port number from 1 to 65535 (unset: a free one, chosen on first start and remembered in the data dir)';
  test.each([
    ['PORT', LISTEN],
    ['HERALD_OPS_PORT', LISTEN],
    ['HERALD_PG_PORT', PG],
  ])('%s: out of range, negative, not a whole number or not a number: the same message', (name, message) => {
    for (const value of ['70000', '065536', '-1', '1.5', '+80', 'abc', '0x10', '1e3', ' ']) {
      expect(() => loadConfig({ [name]: value }), value).toThrow(`Invalid ${name}=${JSON.stringify(value)}: ${message}`);
    }
  });

  test('HERALD_PG_PORT=0 is refused with the same message as 70000 (the embedded server needs a fixed port)', () => {
    expect(() => loadConfig({ HERALD_PG_PORT: '0' })).toThrow(`Invalid HERALD_PG_PORT="0": ${PG}`);
  });

  test.each([
    ['leading zeros and spaces around are read as the number they write', ['004000', ' 9464 ', '05432'], [4000, 9464, 5432]],
    ['the lower ends: 0 for PORT and HERALD_OPS_PORT (any free port), 1 for HERALD_PG_PORT', ['0', '0', '1'], [0, 0, 1]],
    ['the upper ends', ['65535', '65535', '65535'], [65535, 65535, 65535]],
  ])('accepted: %s', (_case, [PORT, HERALD_OPS_PORT, HERALD_PG_PORT], [port, opsPort, embeddedPgPort]) => {
    expect(loadConfig({ PORT, HERALD_OPS_PORT, HERALD_PG_PORT })).toMatchObject({ port, opsPort, embeddedPgPort });
  });

  test('an empty variable is unset: PORT= is the default 4000, HERALD_PG_PORT= and HERALD_OPS_PORT= are unset', () => {
    expect(loadConfig({ PORT: '', HERALD_OPS_PORT: '', HERALD_PG_PORT: '' })).toMatchObject({
      port: 4000,
      opsPort: null,
      embeddedPgPort: undefined,
    });
  });
});

describe('several bad settings', () => {
  test('are named together in one message, each once, so one restart shows them all', () => {
    expect(() => loadConfig({ PORT: 'abc', HERALD_LEASE: '30', HERALD_WORKER_CONCURRENCY: '0' })).toThrow(
      'Invalid PORT="abc": must be a port number from 0 to 65535 (0: any free port); ' +
        'Invalid HERALD_LEASE="30": needs a unit: ms, s, m, h or d (e.g. "30s" or "30d"); ' +
        'Invalid HERALD_WORKER_CONCURRENCY="0": must be at least 1',
    );
  });

  test('HERALD_WORKER_CONCURRENCY and HERALD_MAX_WEBHOOKS say their bounds in words', () => {
    expect(() => loadConfig({ HERALD_WORKER_CONCURRENCY: '20000' })).toThrow(
      'Invalid HERALD_WORKER_CONCURRENCY="20000": must be at most 10000',
    );
    expect(() => loadConfig({ HERALD_WORKER_CONCURRENCY: '1.5' })).toThrow(
      'Invalid HERALD_WORKER_CONCURRENCY="1.5": must be a whole number',
    );
    expect(() => loadConfig({ HERALD_MAX_WEBHOOKS: 'lots' })).toThrow('Invalid HERALD_MAX_WEBHOOKS="lots": must be a whole number');
  });
});

describe('the data dir', () => {
  test("by default the checkout's own .herald, wherever the command runs from; a relative one that is set, from the working directory", () => {
    const checkout = fileURLToPath(new URL('..', import.meta.url));
    const elsewhere = mkdtempSync(path.join(os.tmpdir(), 'herald-cwd-'));
    const cwd = process.cwd();
    try {
      // `npx herald …` from a subdirectory (here: a directory outside the checkout) made a data dir there.
      process.chdir(elsewhere);
      expect(loadConfig({}).dataDir).toBe(path.join(checkout, '.herald'));
      expect(loadConfig({ HERALD_DATA_DIR: './elsewhere' }).dataDir).toBe('./elsewhere');
    } finally {
      process.chdir(cwd);
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  test('data left in the working directory by the default before is named, not silently replaced by a new Herald', () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'herald-moved-'));
    try {
      const checkoutDir = path.join(root, 'checkout', '.herald');
      const service = path.join(root, 'srv');
      mkdirSync(path.join(service, '.herald'), { recursive: true });
      // Nothing there yet: no refusal.
      expect(movedDataDirProblem(checkoutDir, service)).toBeNull();
      writeFileSync(path.join(service, '.herald', 'keys.json'), '{}');
      expect(movedDataDirProblem(checkoutDir, service)).toBe(
        `HERALD_DATA_DIR is unset: its default is now ${checkoutDir} (the checkout's own, wherever Herald runs from), ` +
          `which does not exist, and ${path.join(service, '.herald')} holds a Herald's data (the default before). ` +
          `Set HERALD_DATA_DIR=${path.join(service, '.herald')} to keep using it, or move it to ${checkoutDir}.`,
      );
      // Once the checkout has its own, a data dir elsewhere (e.g. one a subdirectory got by mistake) is not named.
      mkdirSync(checkoutDir, { recursive: true });
      expect(movedDataDirProblem(checkoutDir, service)).toBeNull();
      // Run from the checkout itself: the same directory, nothing to say.
      expect(movedDataDirProblem(checkoutDir, path.dirname(checkoutDir))).toBeNull();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
