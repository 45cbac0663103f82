// Adaptive throttling of one endpoint (AIMD), pure: the clock is passed in. A worker keeps one
// Adaptive per webhook it sends to, feeds it every answer (observe()), and sends at most
// `concurrency` at once and `rate` a second while a throttle is in force. The state it reaches is
// shared with the other workers through the webhook row (delivery/record.ts, at most once a second).
//
// Decrease (multiplicative): a 429 or 503 (with or without Retry-After), a timeout, or a moving
// average of response times above twice the endpoint's own baseline and above 1 s halves the
// concurrency (at least 1) and the rate, at most once per window, as TCP (NewReno) counts the
// losses of one round trip as one congestion event. Only answers to attempts that started after
// the last change count, and the first `concurrency before the decrease` of those answers (the
// window) belong to the same episode: a signal among them is not acted on again. An endpoint
// that answers 429 at once makes the attempts after a decrease come back one by one, each sent
// after the change: counting each as a new episode took a webhook from 10 at once and 100/s to 1
// and 0.1/s on 10 events. A signal is never held over for later either: a window left open when
// the traffic stopped lowers nothing once it resumes against a recovered endpoint.
//
// Increase (additive): once `concurrency` successes have come back (a window) without a signal,
// concurrency grows by 1 and the rate by a twentieth of where it started; at the configured
// maxInFlight and rateLimit the throttle is lifted.
//
// Lapse: a throttle that has met no signal for QUIET_MS is lifted whole. The limits it holds were
// learnt from traffic that is gone: a single 503 to a webhook sending one event a second left it
// at 0.5/s, and the next campaign, minutes later, crawled at that rate while climbing a twentieth
// of 1/s a window. An endpoint still overloaded says so again at the first window.

export const THROTTLE_REASONS = ['HTTP_429', 'HTTP_503', 'TIMEOUT', 'SLOW'] as const;
export type ThrottleReason = (typeof THROTTLE_REASONS)[number];

/** A throttle in force: limits below the webhook's configured ones. */
export interface Throttle {
  /** Requests at once across all workers, 1 … maxInFlight. */
  concurrency: number;
  /** Deliveries a second across all workers; null: no rate below the configured rateLimit. */
  rate: number | null;
  /** The signal of the latest decrease. */
  reason: ThrottleReason;
  /** When this throttle began (the first decrease since it was last lifted). */
  since: Date;
}

/** The webhook's configured limits. */
export interface Limits {
  maxInFlight: number;
  /** Deliveries a second; null: none. */
  rateLimit: number | null;
}

/** What one attempt's answer tells. */
export interface AttemptSignal {
  /** When the attempt started (epoch ms). */
  startedAt: number;
  durationMs: number;
  /** HTTP status; null when no response arrived. */
  status: number | null;
  /** TIMEOUT, CONNECTION, … ; null when a response arrived. */
  error: string | null;
}

/** One endpoint's adaptive state, as one worker holds it. */
export interface Adaptive {
  throttle: Throttle | null;
  /** When the throttle last changed (epoch ms; 0: never). */
  changedAt: number;
  /** Successes since then, of attempts started after it. */
  successes: number;
  /** Answers (of attempts started after the last decrease) still to come before a signal lowers the limits again. */
  window: number;
  /** Moving average of response times (ms); null before the first. */
  averageMs: number | null;
  /** The endpoint's own usual response time (ms): follows the average down at once, up slowly. */
  baselineMs: number | null;
  /** The rate the throttle started from (deliveries/s): the rateLimit, or the rate seen then. */
  ceilingRate: number | null;
  /** When the last signal was met, here or by the worker whose throttle was read (epoch ms; 0: never). */
  signalAt: number;
}

export const DECREASE_FACTOR = 0.5;
/** A moving average above this many times the baseline is a signal (if also above SLOW_MS). */
export const SLOW_FACTOR = 2;
export const SLOW_MS = 1000;
/** The lowest throttled rate (deliveries/s). */
export const MIN_RATE = 0.1;
/** A throttle that has met no signal for this long (ms) is lifted. */
export const QUIET_MS = 30_000;
/** Windows to climb from the lowest rate back to the ceiling. */
const RATE_STEPS = 20;
/** Weight of the newest answer in the moving average, and how fast the baseline rises. */
const AVERAGE_WEIGHT = 0.2;
const BASELINE_RISE = 0.005;

export function initialAdaptive(): Adaptive {
  return { throttle: null, changedAt: 0, successes: 0, window: 0, averageMs: null, baselineMs: null, ceilingRate: null, signalAt: 0 };
}

/** The concurrency and rate in force: the configured limits, lowered by a throttle. */
export function effectiveLimits(limits: Limits, throttle: Throttle | null): { concurrency: number; rate: number | null } {
  if (!throttle) return { concurrency: limits.maxInFlight, rate: limits.rateLimit };
  const rate =
    throttle.rate === null ? limits.rateLimit : limits.rateLimit === null ? throttle.rate : Math.min(throttle.rate, limits.rateLimit);
  return { concurrency: Math.min(throttle.concurrency, limits.maxInFlight), rate };
}

/**
 * Which congestion signal an answer is, if any (the moving average already includes it). SLOW
 * needs the answer itself to be slow as well as the average: fast answers after a slow spell
 * bring the average down over several answers, and each of them counted as SLOW kept lowering the
 * limits for half a minute after the endpoint had recovered.
 */
export function signalOf(signal: AttemptSignal, state: Pick<Adaptive, 'averageMs' | 'baselineMs'>): ThrottleReason | null {
  if (signal.status === 429) return 'HTTP_429';
  if (signal.status === 503) return 'HTTP_503';
  if (signal.error === 'TIMEOUT') return 'TIMEOUT';
  const { averageMs, baselineMs } = state;
  const slow = (ms: number) => baselineMs !== null && ms > SLOW_FACTOR * baselineMs && ms > SLOW_MS;
  if (averageMs !== null && slow(averageMs) && slow(signal.durationMs)) return 'SLOW';
  return null;
}

/** Whether limits `after` are below `before` in concurrency or rate (null: no rate). */
export function lowers(after: { concurrency: number; rate: number | null }, before: { concurrency: number; rate: number | null }): boolean {
  return after.concurrency < before.concurrency || (after.rate ?? Infinity) < (before.rate ?? Infinity);
}

/** The state at `now` (epoch ms): its throttle lifted if it has met no signal for QUIET_MS. */
export function lapse(state: Adaptive, now: number): Adaptive {
  if (state.throttle === null || now - state.signalAt < QUIET_MS) return state;
  return { ...state, throttle: null, changedAt: now, successes: 0, window: 0, ceilingRate: null };
}

/**
 * The state after one answer. `sendRate` is the rate (deliveries/s) the endpoint was being sent
 * at, used as the starting point of a rate throttle when the webhook has no rateLimit.
 */
export function observe(state: Adaptive, signal: AttemptSignal, limits: Limits, now: number, sendRate: number): Adaptive {
  state = lapse(state, now);
  const next = { ...state, ...timing(state, signal) };
  // An answer to an attempt sent under the previous limits says nothing about the current ones,
  // but a signal in it still shows the endpoint is not quiet.
  if (signal.startedAt < state.changedAt) return signalOf(signal, next) === null ? next : { ...next, signalAt: now };
  next.window = Math.max(0, state.window - 1);
  const reason = signalOf(signal, next);
  if (reason !== null) {
    // Within the window of the last decrease: the same episode; it holds off the increase only.
    if (state.window > 0) return { ...next, successes: 0, signalAt: now };
    return decrease(next, reason, limits, now, sendRate);
  }
  if (signal.error !== null || signal.status === null || signal.status < 200 || signal.status >= 300) return next;
  if (next.throttle === null) return next;
  const successes = next.successes + 1;
  if (successes < next.throttle.concurrency) return { ...next, successes };
  return increase(next, limits, now);
}

/** Folds a response time into the moving average and the baseline; errors without one do not count. */
function timing(state: Adaptive, signal: AttemptSignal): Pick<Adaptive, 'averageMs' | 'baselineMs'> {
  if (signal.status === null && signal.error !== 'TIMEOUT') return { averageMs: state.averageMs, baselineMs: state.baselineMs };
  const averageMs = state.averageMs === null ? signal.durationMs : state.averageMs + AVERAGE_WEIGHT * (signal.durationMs - state.averageMs);
  const baselineMs =
    state.baselineMs === null || averageMs < state.baselineMs
      ? averageMs
      : state.baselineMs + BASELINE_RISE * (averageMs - state.baselineMs);
  return { averageMs, baselineMs };
}

function decrease(state: Adaptive, reason: ThrottleReason, limits: Limits, now: number, sendRate: number): Adaptive {
  const current = effectiveLimits(limits, state.throttle);
  // A throttle read from another worker may come without a ceiling (no rate in it, no rateLimit).
  const ceilingRate = (state.throttle ? state.ceilingRate : null) ?? limits.rateLimit ?? Math.max(MIN_RATE, sendRate);
  const from = current.rate ?? ceilingRate ?? MIN_RATE;
  return {
    ...state,
    throttle: {
      concurrency: Math.max(1, Math.floor(current.concurrency * DECREASE_FACTOR)),
      rate: Math.max(MIN_RATE, roundRate(from * DECREASE_FACTOR)),
      reason,
      since: state.throttle?.since ?? new Date(now),
    },
    changedAt: now,
    successes: 0,
    window: current.concurrency,
    ceilingRate,
    signalAt: now,
  };
}

function increase(state: Adaptive, limits: Limits, now: number): Adaptive {
  const throttle = state.throttle!;
  const concurrency = Math.min(limits.maxInFlight, throttle.concurrency + 1);
  const ceiling = limits.rateLimit ?? state.ceilingRate;
  let rate: number | null = null;
  if (throttle.rate !== null && ceiling !== null) {
    rate = roundRate(throttle.rate + Math.max(MIN_RATE, ceiling / RATE_STEPS));
    if (rate >= ceiling) rate = null;
  }
  const lifted = concurrency >= limits.maxInFlight && rate === null;
  return {
    ...state,
    throttle: lifted ? null : { ...throttle, concurrency, rate },
    changedAt: now,
    successes: 0,
    ceilingRate: lifted ? null : state.ceilingRate,
  };
}

/** A rate to 4 decimals: climbing by steps of a twentieth showed 7.199999999999999/s in the API. */
function roundRate(rate: number): number {
  return Math.round(rate * 10_000) / 10_000;
}

/** Whether two throttles show the same (what is written and announced). */
export function sameThrottle(a: Throttle | null, b: Throttle | null): boolean {
  if (a === null || b === null) return a === b;
  return a.concurrency === b.concurrency && a.rate === b.rate && a.reason === b.reason && a.since.getTime() === b.since.getTime();
}
