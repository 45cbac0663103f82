import { describe, expect, it } from 'vitest';
import {
  type Adaptive,
  type AttemptSignal,
  effectiveLimits,
  initialAdaptive,
  type Limits,
  lapse,
  MIN_RATE,
  observe,
  QUIET_MS,
  SLOW_MS,
  signalOf,
} from '../../src/core/throttle.ts';

const limits: Limits = { maxInFlight: 50, rateLimit: null };
const ok = (startedAt: number, durationMs = 20): AttemptSignal => ({ startedAt, durationMs, status: 200, error: null });
const status = (startedAt: number, code: number): AttemptSignal => ({ startedAt, durationMs: 5, status: code, error: null });
const timeout = (startedAt: number): AttemptSignal => ({ startedAt, durationMs: 15_000, status: null, error: 'TIMEOUT' });

/** Feeds answers in order, each observed at the time it ends. */
function feed(state: Adaptive, signals: AttemptSignal[], l: Limits = limits, sendRate = 100): Adaptive {
  return signals.reduce((s, signal) => observe(s, signal, l, signal.startedAt + signal.durationMs, sendRate), state);
}

describe('decrease', () => {
  it.each([
    [429, 'HTTP_429'],
    [503, 'HTTP_503'],
  ] as const)('a %i halves concurrency, records the reason and since when', (code, reason) => {
    const s = feed(initialAdaptive(), [status(1000, code)]);
    expect(s.throttle).toEqual({ concurrency: 25, rate: 50, reason, since: new Date(1005) });
    expect(effectiveLimits(limits, s.throttle)).toEqual({ concurrency: 25, rate: 50 });
  });

  it('a timeout halves too', () => {
    expect(feed(initialAdaptive(), [timeout(0)]).throttle).toMatchObject({ concurrency: 25, reason: 'TIMEOUT' });
  });

  it('a burst sent under the old limit that all meets 429 halves once', () => {
    const burst = Array.from({ length: 40 }, () => status(1000, 429));
    const once = feed(initialAdaptive(), burst);
    expect(once.throttle?.concurrency).toBe(25);
    expect(once.throttle?.since).toEqual(new Date(1005));
  });

  it('429s answered at once, each attempt sent after the last decrease, halve once per window of the old concurrency', () => {
    const l: Limits = { maxInFlight: 10, rateLimit: 100 };
    // One at a time, each sent after the previous answer (as a rate spaces them).
    const sequential = (from: number, n: number) => Array.from({ length: n }, (_, i) => status(from + 20 * i, 429));
    const once = feed(initialAdaptive(), sequential(0, 10), l);
    expect(once.throttle).toMatchObject({ concurrency: 5, rate: 50, since: new Date(5) }); // not 1 and 0.1
    expect(once.window).toBe(1); // 9 of the window of 10 came back, all 429: the same episode
    expect(feed(once, sequential(1000, 1), l).throttle).toMatchObject({ concurrency: 5, rate: 50 }); // the window's last
    const twice = feed(once, sequential(1000, 2), l);
    expect(twice.throttle).toMatchObject({ concurrency: 2, rate: 25, since: new Date(5) }); // past the window: halved, one throttle
    expect(feed(twice, sequential(2000, 5), l).throttle).toMatchObject({ concurrency: 2, rate: 25 }); // a window of 5
    expect(feed(twice, sequential(2000, 6), l).throttle).toMatchObject({ concurrency: 1, rate: 12.5 });
    // A 429 within the window, then successes: no second decrease, and the successes climb.
    const oks = (from: number, n: number) => Array.from({ length: n }, (_, i) => ok(from + 100 * i));
    expect(feed(initialAdaptive(), [status(0, 429), status(100, 429), ...oks(200, 8)], l).throttle).toMatchObject({
      concurrency: 6,
      rate: 55,
    });
    // A window without a signal: no decrease (and a window of 5 successes within it, an increase).
    expect(feed(initialAdaptive(), [status(0, 429), ...oks(100, 10)], l).throttle).toMatchObject({ concurrency: 6, rate: 55 });
  });

  it('a window left open when the traffic stopped lowers nothing once it resumes against a recovered endpoint', () => {
    const l: Limits = { maxInFlight: 10, rateLimit: 100 };
    const paused = feed(initialAdaptive(), [status(0, 429), status(100, 429)], l);
    expect(paused.throttle).toMatchObject({ concurrency: 5, rate: 50 });
    expect(paused.window).toBe(9);
    // 20 s later (before the throttle lapses) the endpoint answers every request: the limits only climb.
    const resumed = feed(
      paused,
      Array.from({ length: 20 }, (_, i) => ok(20_000 + 100 * i)),
      l,
    );
    expect(resumed.throttle).toMatchObject({ concurrency: 8, rate: 65, reason: 'HTTP_429' }); // windows of 5, 6 and 7
  });

  it('the rate halves from the rateLimit, or from the rate being sent when there is none, and never below MIN_RATE', () => {
    expect(feed(initialAdaptive(), [status(0, 429)], { maxInFlight: 10, rateLimit: 40 }).throttle?.rate).toBe(20);
    expect(feed(initialAdaptive(), [status(0, 429)], limits, 12).throttle?.rate).toBe(6);
    // 50 at once, then windows of 50, 25, 12, 6, 3, 1, 1, … answers.
    const floor = feed(
      initialAdaptive(),
      Array.from({ length: 200 }, (_, i) => status(i * 100, 429)),
      limits,
      1,
    );
    expect(floor.throttle?.rate).toBe(MIN_RATE);
    expect(floor.throttle?.concurrency).toBe(1);
  });
});

describe('slow responses are relative to the endpoint’s own baseline', () => {
  it('an endpoint that slows a little under load, or is always slow, is not throttled', () => {
    // 200 ms, then 350 ms: below twice its baseline.
    const steady = feed(initialAdaptive(), [
      ...Array.from({ length: 50 }, (_, i) => ok(i * 10, 200)),
      ...Array.from({ length: 50 }, (_, i) => ok(1000 + i * 10, 350)),
    ]);
    expect(steady.throttle).toBeNull();
    // Always 3 s: its baseline is 3 s.
    expect(
      feed(
        initialAdaptive(),
        Array.from({ length: 50 }, (_, i) => ok(i * 10, 3000)),
      ).throttle,
    ).toBeNull();
    // From 100 ms to 800 ms: over twice the baseline, but under 1 s.
    expect(
      feed(initialAdaptive(), [
        ...Array.from({ length: 50 }, (_, i) => ok(i, 100)),
        ...Array.from({ length: 50 }, (_, i) => ok(100 + i, 800)),
      ]).throttle,
    ).toBeNull();
  });

  it('an average above twice the baseline and above 1 s lowers the limits (reason SLOW)', () => {
    const s = feed(initialAdaptive(), [
      ...Array.from({ length: 50 }, (_, i) => ok(i, 300)),
      ...Array.from({ length: 20 }, (_, i) => ok(100 + i, 2500)),
    ]);
    expect(s.averageMs).toBeGreaterThan(SLOW_MS);
    expect(signalOf(ok(0, 2500), s)).toBe('SLOW');
    // Fast again: the average takes several answers to come under 1 s, and none of them is a
    // signal (each was, and the limits kept falling for half a minute after the endpoint recovered).
    expect(signalOf(ok(0, 5), s)).toBeNull();
    expect(s.throttle).toMatchObject({ reason: 'SLOW' });
  });

  it('errors without a response (connection refused) do not move the average', () => {
    const s = feed(initialAdaptive(), [ok(0, 100), { startedAt: 1, durationMs: 1, status: null, error: 'CONNECTION' }]);
    expect(s.averageMs).toBe(100);
    expect(s.throttle).toBeNull();
  });
});

describe('increase', () => {
  it('each window of `concurrency` successes adds 1 (and a twentieth of the starting rate), back to the limits, then none', () => {
    let s = feed(initialAdaptive(), [status(0, 429)], { maxInFlight: 4, rateLimit: 20 });
    expect(s.throttle).toMatchObject({ concurrency: 2, rate: 10 });
    let t = 100;
    // Each success sent after the previous one came back (a change counts from its answer's time).
    const window = (n: number) => {
      s = feed(
        s,
        Array.from({ length: n }, (_, i) => ok(t + 100 * (i + 1))),
        { maxInFlight: 4, rateLimit: 20 },
      );
      t += 100 * n;
    };
    window(1);
    expect(s.throttle?.concurrency).toBe(2); // one success of a window of 2
    window(1);
    expect(s.throttle).toMatchObject({ concurrency: 3, rate: 11 });
    for (let i = 0; i < 8; i++) window(s.throttle!.concurrency);
    expect(s.throttle).toMatchObject({ concurrency: 4, rate: 19 }); // the rate climbs by 1 a window
    window(4);
    expect(s.throttle).toBeNull();
    expect(effectiveLimits({ maxInFlight: 4, rateLimit: 20 }, s.throttle)).toEqual({ concurrency: 4, rate: 20 });
  });

  it('successes of attempts sent before the last change do not count', () => {
    const s = feed(initialAdaptive(), [status(1000, 429), ok(900), ok(950)], { maxInFlight: 4, rateLimit: null });
    expect(s.successes).toBe(0);
    expect(s.throttle?.concurrency).toBe(2);
  });

  it('rates are kept to 4 decimals (no 7.199999999999999/s shown)', () => {
    let s = feed(initialAdaptive(), [status(0, 429)], { maxInFlight: 2, rateLimit: 7.3 });
    expect(s.throttle?.rate).toBe(3.65);
    for (let t = 100; t < 2000; t += 100) {
      s = feed(s, [ok(t)], { maxInFlight: 2, rateLimit: 7.3 });
      if (s.throttle?.rate != null) expect(Math.round(s.throttle.rate * 10_000) / 10_000).toBe(s.throttle.rate);
    }
    expect(feed(initialAdaptive(), [status(0, 429)], { maxInFlight: 2, rateLimit: 0.3 }).throttle?.rate).toBe(0.15);
  });

  it('without a rateLimit the rate throttle is lifted once it is back at the rate it started from', () => {
    let s = feed(initialAdaptive(), [status(0, 429)], { maxInFlight: 2, rateLimit: null }, 10);
    expect(s.throttle).toMatchObject({ concurrency: 1, rate: 5 });
    for (let t = 100; s.throttle && t < 10_000; t += 100) s = feed(s, [ok(t)], { maxInFlight: 2, rateLimit: null }, 10);
    expect(s.throttle).toBeNull();
  });
});

describe('lapse', () => {
  const l: Limits = { maxInFlight: 10, rateLimit: null };

  it('a throttle that has met no signal for QUIET_MS is lifted whole, at the next answer or when looked at', () => {
    // One 503 to a webhook sending one event a second: 5 at once and 0.5/s.
    const s = feed(initialAdaptive(), [ok(0), status(1000, 503)], l, 1);
    expect(s.throttle).toMatchObject({ concurrency: 5, rate: 0.5, reason: 'HTTP_503' });
    expect(lapse(s, 1005 + QUIET_MS - 1)).toBe(s);
    expect(lapse(s, 1005 + QUIET_MS).throttle).toBeNull();
    // The next campaign, a minute later: its first answer finds the limits it was configured with.
    const next = feed(s, [ok(61_000)], l);
    expect(next.throttle).toBeNull();
    expect(effectiveLimits(l, next.throttle)).toEqual({ concurrency: 10, rate: null });
  });

  it('signals keep it, also within a window and from attempts sent before the last change', () => {
    let s = feed(initialAdaptive(), [status(0, 429)], l, 10); // 5 at once, window 10
    for (let t = 10_000; t <= 100_000; t += 10_000) s = feed(s, [status(t, 429)], l, 10);
    expect(s.throttle).not.toBeNull();
    expect(s.signalAt).toBe(100_005);
    // An answer to an attempt started before the last change: not counted, but not quiet either.
    const old = observe(s, status(50_000, 429), l, 120_000, 10);
    expect(old.signalAt).toBe(120_000);
    expect(lapse(old, 120_000 + QUIET_MS - 1).throttle).not.toBeNull();
  });
});
