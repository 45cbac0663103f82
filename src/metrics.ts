// Herald's Prometheus metrics (README, "Operating Herald"). A leaf module like logger.ts: every
// layer may record into it, and it imports nothing of Herald's, so the hooks in the API, the
// services and the worker are single calls that move with the code around them.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The registry /metrics serves: Herald's metrics and prom-client's default process and Node.js metrics. */
export const registry = new Registry();

let defaultsEnabled = false;
/** Registers prom-client's default metrics (process_*, nodejs_*) once per process. */
export function enableDefaultMetrics(): void {
  if (defaultsEnabled) return;
  defaultsEnabled = true;
  collectDefaultMetrics({ register: registry });
}

/** Final delivery statuses, the values of `herald_deliveries_completed_total{status}`. */
export type CompletedStatus = 'SUCCEEDED' | 'FAILED' | 'CANCELLED';

/** What the gauges read from PostgreSQL hold; global figures, the same in every process. */
export interface DatabaseGauges {
  /** Deliveries not yet final, by status. */
  waiting: { PENDING: number; RETRYING: number };
  /** Age in seconds of the oldest delivery that is due and not done; 0 when none is. */
  lagSeconds: number;
  /** Webhooks not deleted, by status (ACTIVE, PAUSED, DISABLED). */
  webhooks: Record<string, number>;
}

/**
 * Where the gauges that are not counted in-process read their values at scrape time. Set by the
 * process that runs Herald (`attachSources`); a gauge without a source, or whose source failed,
 * is left out of the scrape rather than showing a stale value.
 */
export interface MetricSources {
  /** Resolves to the PostgreSQL figures (cached by the source), or null when they cannot be read now. */
  database?(): Promise<DatabaseGauges | null>;
  liveSubscribers?(): number;
  /** Whether /readyz would answer 200 now. */
  ready?(): Promise<boolean>;
}

let sources: MetricSources = {};

/** Points the gauges at this process's sources; returns a function that detaches them again. */
export function attachSources(next: MetricSources): () => void {
  sources = next;
  return () => {
    if (sources === next) sources = {};
  };
}

const SECOND_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30];

const eventsPublished = new Counter({
  name: 'herald_events_published_total',
  help: 'Events stored by publishEvent(s); a repeated idempotency key does not count again.',
  registers: [registry],
});

const attempts = new Counter({
  name: 'herald_attempts_total',
  help: 'HTTP attempts made by this worker, by result: success, http_error (a non-2xx answer), or the error code in lower case (timeout, connection, dns, tls, blocked_address, redirect, ...).',
  labelNames: ['result'],
  registers: [registry],
});

const attemptDuration = new Histogram({
  name: 'herald_attempt_duration_seconds',
  help: 'Duration of HTTP attempts, from the request to the end of the (capped) response body, by result.',
  labelNames: ['result'],
  buckets: SECOND_BUCKETS,
  registers: [registry],
});

const deliveriesCompleted = new Counter({
  name: 'herald_deliveries_completed_total',
  help: 'Deliveries that reached a final status, counted when recorded; a replayed delivery counts again when it ends again.',
  labelNames: ['status'],
  registers: [registry],
});

const publishToFirstAttempt = new Histogram({
  name: 'herald_publish_to_first_attempt_seconds',
  help: 'Time from publishing an event to the start of the first attempt of each of its deliveries (time held by a paused webhook included).',
  buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
  registers: [registry],
});

const graphqlRequests = new Counter({
  name: 'herald_graphql_requests_total',
  help: 'GraphQL requests over HTTP and operations over WebSocket, by operation type and error code (OK when none).',
  labelNames: ['operation_type', 'code'],
  registers: [registry],
});

const graphqlDuration = new Histogram({
  name: 'herald_graphql_request_duration_seconds',
  help: 'Time to answer GraphQL requests (to the first byte of a subscription stream), by operation type and error code.',
  labelNames: ['operation_type', 'code'],
  buckets: SECOND_BUCKETS,
  registers: [registry],
});

// Gauges read at scrape time. The three PostgreSQL ones share one read (the source caches it).
new Gauge({
  name: 'herald_deliveries_waiting',
  help: 'Deliveries not yet final, by status (PENDING, RETRYING); global, read from PostgreSQL at most every few seconds: exact up to 1 000, estimated from PostgreSQL statistics above.',
  labelNames: ['status'],
  registers: [registry],
  async collect() {
    this.reset();
    const db = await readDatabase();
    if (!db) return;
    this.set({ status: 'PENDING' }, db.waiting.PENDING);
    this.set({ status: 'RETRYING' }, db.waiting.RETRYING);
  },
});

new Gauge({
  name: 'herald_delivery_lag_seconds',
  help: "Age of the oldest delivery that is due and not done (one in flight counts until its attempt is recorded); deliveries held on purpose (a paused webhook, an earlier delivery of the ordering key, the webhook's own rateLimit) do not count, those waiting for a maxInFlight slot do; global, read from PostgreSQL at most every few seconds.",
  registers: [registry],
  async collect() {
    this.reset();
    const db = await readDatabase();
    if (db) this.set(db.lagSeconds);
  },
});

new Gauge({
  name: 'herald_webhooks',
  help: 'Webhooks (not deleted) by status; global, read from PostgreSQL at most every few seconds.',
  labelNames: ['status'],
  registers: [registry],
  async collect() {
    this.reset();
    const db = await readDatabase();
    if (!db) return;
    for (const [status, count] of Object.entries(db.webhooks)) this.set({ status }, count);
  },
});

new Gauge({
  name: 'herald_live_subscribers',
  help: 'GraphQL subscriptions open on this process.',
  registers: [registry],
  collect() {
    this.reset();
    if (sources.liveSubscribers) this.set(sources.liveSubscribers());
  },
});

new Gauge({
  name: 'herald_ready',
  help: '1 when this process is ready (GET /readyz answers 200), else 0.',
  registers: [registry],
  async collect() {
    this.reset();
    if (sources.ready) this.set((await sources.ready()) ? 1 : 0);
  },
});

/** One read per scrape however many gauges ask; a failing source counts as no figures. */
let reading: Promise<DatabaseGauges | null> | null = null;
function readDatabase(): Promise<DatabaseGauges | null> {
  const source = sources.database;
  if (!source) return Promise.resolve(null);
  reading ??= source()
    .catch(() => null)
    .finally(() => {
      reading = null;
    });
  return reading;
}

/** The `result` label of an attempt: `success`, `http_error`, or its error code in lower case. */
export function attemptResult(attempt: { error: string | null; status: number | null }): string {
  if (attempt.error) return attempt.error.toLowerCase();
  return attempt.status !== null && attempt.status >= 200 && attempt.status < 300 ? 'success' : 'http_error';
}

/** Counts events stored by a publish call. */
export function countPublished(events: number): void {
  if (events > 0) eventsPublished.inc(events);
}

/**
 * Counts one HTTP attempt and its duration. `sincePublishMs` is given for a delivery's first
 * scheduled attempt: the time from its event's publication to this attempt's start.
 */
export function observeAttempt(
  attempt: { error: string | null; status: number | null; durationMs: number },
  sincePublishMs: number | null,
): void {
  const result = attemptResult(attempt);
  attempts.inc({ result });
  attemptDuration.observe({ result }, attempt.durationMs / 1000);
  if (sincePublishMs !== null) publishToFirstAttempt.observe(Math.max(0, sincePublishMs) / 1000);
}

/** Counts deliveries that reached a final status (one entry per delivery). */
export function countCompleted(statuses: Iterable<CompletedStatus>): void {
  for (const status of statuses) deliveriesCompleted.inc({ status });
}

/** Counts one GraphQL request: its operation type (query, mutation, subscription, unknown) and error code (OK when none). */
export function observeGraphqlRequest(operationType: string, code: string, seconds: number): void {
  graphqlRequests.inc({ operation_type: operationType, code });
  graphqlDuration.observe({ operation_type: operationType, code }, seconds);
}
