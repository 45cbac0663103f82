import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { DeliveryStatus } from '../../src/core/delivery-state.ts';
import { type IdPrefix, lowestIdAt } from '../../src/core/ids.ts';

// ---------------------------------------------------------------------------------------------
// Ids at chosen times. `newId` is monotonic per process (it never goes back in time, and Herald
// runs in this process), so seeds made "40 days ago" build their ids from `lowestIdAt` instead.
// ---------------------------------------------------------------------------------------------

const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** An id in Herald's format whose time part is `ms`, with random low bits. */
export function idAt(prefix: IdPrefix, ms: number): string {
  const random = [...randomBytes(16)].map((b) => ALPHABET[b % 32]).join('');
  return lowestIdAt(prefix, ms).slice(0, -16) + random;
}

export const DAY = 24 * 3600 * 1000;

export interface SeedAttempt {
  at: number;
  durationMs?: number;
  responseStatus?: number | null;
  error?: string | null;
}

export interface SeedItem {
  /** Creation time of the event and its delivery (ms). */
  at: number;
  status: DeliveryStatus;
  /** Attempts, each at its own time; a number n means n attempts one second apart from `at`. */
  attempts: SeedAttempt[] | number;
  eventType?: string;
  nextAttemptAt?: Date | null;
  webhookId?: string;
}

export interface Seeded {
  eventId: string;
  deliveryId: string;
  attemptIds: string[];
}

/**
 * Inserts events, one delivery each and their attempts with plain SQL (`unnest` of arrays),
 * as Herald itself would have written them at the given times. Fast: 10 000 rows in well
 * under a second.
 */
export async function seedHistory(
  client: pg.ClientBase | pg.Pool,
  options: { tenantId: string; webhookId: string; url?: string },
  items: SeedItem[],
): Promise<Seeded[]> {
  const ev = { id: [] as string[], type: [] as string[], payload: [] as string[], at: [] as Date[] };
  const dl = {
    id: [] as string[],
    event: [] as string[],
    webhook: [] as string[],
    type: [] as string[],
    status: [] as string[],
    count: [] as number[],
    next: [] as (Date | null)[],
    last: [] as (Date | null)[],
    completed: [] as (Date | null)[],
    lastStatus: [] as (number | null)[],
    at: [] as Date[],
  };
  const at = {
    id: [] as string[],
    delivery: [] as string[],
    webhook: [] as string[],
    number: [] as number[],
    started: [] as Date[],
    duration: [] as number[],
    status: [] as (number | null)[],
    error: [] as (string | null)[],
  };
  const seeded: Seeded[] = [];
  for (const item of items) {
    const type = item.eventType ?? 'message.delivered';
    const webhookId = item.webhookId ?? options.webhookId;
    const eventId = idAt('evt', item.at);
    const deliveryId = idAt('dlv', item.at);
    ev.id.push(eventId);
    ev.type.push(type);
    ev.at.push(new Date(item.at));
    ev.payload.push(
      JSON.stringify({ id: eventId, type, timestamp: new Date(item.at).toISOString(), tenantId: options.tenantId, data: { seeded: true } }),
    );
    const attempts: SeedAttempt[] =
      typeof item.attempts === 'number'
        ? Array.from({ length: item.attempts }, (_, i) => ({ at: item.at + (i + 1) * 1000 }))
        : item.attempts;
    const attemptIds: string[] = [];
    attempts.forEach((a, i) => {
      const id = idAt('att', a.at);
      attemptIds.push(id);
      at.id.push(id);
      at.delivery.push(deliveryId);
      at.webhook.push(webhookId);
      at.number.push(i + 1);
      at.started.push(new Date(a.at));
      at.duration.push(a.durationMs ?? 50);
      const failed = item.status === 'FAILED' || i < attempts.length - 1;
      at.status.push(a.responseStatus !== undefined ? a.responseStatus : failed ? 500 : 200);
      at.error.push(a.error ?? null);
    });
    const final = item.status === 'SUCCEEDED' || item.status === 'FAILED' || item.status === 'CANCELLED';
    const last = attempts.at(-1);
    dl.id.push(deliveryId);
    dl.event.push(eventId);
    dl.webhook.push(webhookId);
    dl.type.push(type);
    dl.status.push(item.status);
    dl.count.push(attempts.length);
    dl.next.push(item.nextAttemptAt ?? null);
    dl.last.push(last ? new Date(last.at) : null);
    dl.completed.push(final ? new Date(last?.at ?? item.at) : null);
    dl.lastStatus.push(last ? (item.status === 'SUCCEEDED' ? 200 : 500) : null);
    dl.at.push(new Date(item.at));
    seeded.push({ eventId, deliveryId, attemptIds });
  }
  await client.query(
    `insert into event (id, tenant_id, type, channel, payload, created_at)
     select id, $1, type, null, payload, at from unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[]) as t(id, type, payload, at)`,
    [options.tenantId, ev.id, ev.type, ev.payload, ev.at],
  );
  await client.query(
    `insert into delivery (id, tenant_id, event_id, webhook_id, event_type, status, attempt_count, next_attempt_at,
                           last_attempt_at, completed_at, last_response_status, created_at, updated_at)
     select id, $1, event_id, webhook_id, type, status, n, next, last, completed, last_status, at, at
       from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::timestamptz[],
                   $9::timestamptz[], $10::timestamptz[], $11::int[], $12::timestamptz[])
            as t(id, event_id, webhook_id, type, status, n, next, last, completed, last_status, at)`,
    [options.tenantId, dl.id, dl.event, dl.webhook, dl.type, dl.status, dl.count, dl.next, dl.last, dl.completed, dl.lastStatus, dl.at],
  );
  // Attempt rows as the database's schema holds them: before the attempt_headers_text migration
  // they had a tenant_id and jsonb header maps (an empty one is '' in the text form).
  const { rows } = await client.query<{ old: boolean }>(
    `select exists (select 1 from information_schema.columns
                     where table_schema = current_schema() and table_name = 'attempt' and column_name = 'tenant_id') as old`,
  );
  const old = rows[0].old;
  const none = old ? `'{}'::jsonb` : `''`;
  await client.query(
    `insert into attempt (id, delivery_id, ${old ? 'tenant_id, ' : ''}webhook_id, number, trigger, started_at, duration_ms, request_url,
                          request_headers, response_status, response_headers, response_body, error)
     select id, delivery_id, ${old ? 'p.tenant, ' : ''}webhook_id, number, 'SCHEDULED', started, duration, $2, ${none}, status,
            case when status is null then null else ${none} end, case when status is null then null else 'seeded' end, error
       from unnest($3::text[], $4::text[], $5::text[], $6::int[], $7::timestamptz[], $8::int[], $9::int[], $10::text[])
            as t(id, delivery_id, webhook_id, number, started, duration, status, error)
      cross join (select $1::text as tenant) p`,
    [
      options.tenantId,
      options.url ?? 'https://example.com/hook',
      at.id,
      at.delivery,
      at.webhook,
      at.number,
      at.started,
      at.duration,
      at.status,
      at.error,
    ],
  );
  return seeded;
}

// ---------------------------------------------------------------------------------------------
// Counting and capturing SQL. Herald runs inside the test process, and MikroORM (through
// Kysely's PostgresDialect), the delivery worker and the live listener all talk to PostgreSQL
// through `pg`'s Client. Wrapping Client.prototype.query therefore sees every statement
// Herald's own code sends, exactly as sent, without any hook in src. (pg-boss bundles its own
// copy of `pg`, so its polling never shows up here.)
// ---------------------------------------------------------------------------------------------

export interface CapturedQuery {
  text: string;
  values: unknown[];
}

export interface SqlSpy {
  /** Records statements run inside `fn`, and returns them with fn's result. */
  record<T>(fn: () => Promise<T>): Promise<{ result: T; queries: CapturedQuery[] }>;
  restore(): void;
}

export function spyOnSql(): SqlSpy {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = proto.query;
  let sink: CapturedQuery[] | null = null;
  proto.query = function (this: unknown, ...args: unknown[]) {
    if (sink) {
      const [config, values] = args as [string | { text?: string; values?: unknown[] } | undefined, unknown];
      const text = typeof config === 'string' ? config : config?.text;
      if (typeof text === 'string') {
        sink.push({
          text,
          values: Array.isArray(values) ? values : typeof config === 'object' && Array.isArray(config?.values) ? config.values : [],
        });
      }
    }
    return original.apply(this, args);
  };
  return {
    async record(fn) {
      const queries: CapturedQuery[] = [];
      sink = queries;
      try {
        const result = await fn();
        return { result, queries: [...queries] };
      } finally {
        sink = null;
      }
    },
    restore() {
      proto.query = original;
    },
  };
}

/** Statements that touch Herald's tables (not LISTEN/NOTIFY, transaction control or pg-boss). */
export function heraldStatements(queries: CapturedQuery[]): CapturedQuery[] {
  return queries.filter(
    (q) => !/^\s*(listen|unlisten|begin|commit|rollback|set\b)/i.test(q.text) && !/pgboss\./i.test(q.text) && !/pg_notify/i.test(q.text),
  );
}

// ---------------------------------------------------------------------------------------------
// Plans
// ---------------------------------------------------------------------------------------------

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

/** EXPLAIN (FORMAT JSON) of a statement with its parameters; the root plan node. */
export async function explain(client: pg.ClientBase, query: CapturedQuery): Promise<PlanNode> {
  const { rows } = await client.query(`explain (format json) ${query.text}`, query.values as unknown[]);
  return (rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0].Plan;
}

/** Every node of a plan, depth first. */
export function planNodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(planNodes)];
}

export const INDEX_NODES = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']);

/** "Index Scan using delivery_webhook_id_id_index on delivery" style one-liners, for messages and reports. */
export function describePlan(plan: PlanNode): string[] {
  return planNodes(plan).map((n) =>
    [n['Node Type'], n['Index Name'] ? `using ${n['Index Name']}` : '', n['Relation Name'] ? `on ${n['Relation Name']}` : '']
      .filter(Boolean)
      .join(' '),
  );
}
