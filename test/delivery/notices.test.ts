import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notice } from '../../src/core/operational-events.ts';
import { exhausts } from '../../src/core/operational-events.ts';
import { noticesOf } from '../../src/delivery/notices.ts';
import type { ResultRecord } from '../../src/delivery/record.ts';
import { type DisabledWebhook, updateWebhookHealth } from '../../src/delivery/sql/record-results.ts';
import { createMigratedDatabase } from '../helpers/db.ts';

const T0 = Date.parse('2026-11-22T10:00:00.000Z');
const iso = (s: number) => new Date(T0 + s * 1000).toISOString();

/** A recorded attempt of `webhookId` that ended `s` seconds after T0 (only what noticesOf reads). */
function attempt(
  webhookId: string,
  health: 'success' | 'failure',
  s: number,
  more: { tenantId?: string | null; eventType?: string; exhausted?: Notice } = {},
): ResultRecord {
  const id = `dlv_${webhookId}_${s}`;
  const tenantId = more.tenantId === undefined ? 'ten_a' : more.tenantId;
  const eventType = more.eventType ?? 'message.sent';
  return {
    kind: health === 'success' ? 'succeeded' : 'retry',
    change: { id } as ResultRecord['change'],
    attempt: {
      startedAt: new Date(T0 + s * 1000 - 40),
      durationMs: 40,
      requestUrl: `https://example.com/${webhookId}`,
    } as ResultRecord['attempt'],
    tenantId,
    webhookId,
    eventId: `evt_${s}`,
    eventType,
    orderingKey: null,
    priority: 1,
    health,
    mayNotify: tenantId !== null && !eventType.startsWith('delivery.'),
    exhausted: more.exhausted ?? null,
    gone: false,
    messages: [],
  };
}

const recovered = (webhookId: string, s: number, failedAttempts: number, failingSince: string) => ({
  type: 'delivery.recovered',
  tenantId: 'ten_a',
  webhookId,
  data: expect.objectContaining({ deliveryId: `dlv_${webhookId}_${s}`, failedAttempts, failingSince, recoveredAt: iso(s) }),
});

describe('noticesOf: the operational events a recorded batch owes', () => {
  it('a success after failures in the same batch: delivery.recovered with that streak', () => {
    const notices = noticesOf([attempt('wh_1', 'failure', 1), attempt('wh_1', 'failure', 2), attempt('wh_1', 'success', 3)], [], []);
    expect(notices).toEqual([recovered('wh_1', 3, 2, iso(1))]);
  });

  it('a first success ends the streak from before the batch; a later one only the failures since the previous success', () => {
    const before = [{ webhookId: 'wh_1', failures: 4, failingSince: new Date(iso(-100)) }];
    const batch = [
      attempt('wh_1', 'failure', 1),
      attempt('wh_1', 'success', 2),
      attempt('wh_1', 'success', 3),
      attempt('wh_1', 'failure', 4),
      attempt('wh_1', 'success', 5),
    ];
    expect(noticesOf(batch, before, [])).toEqual([recovered('wh_1', 2, 5, iso(-100)), recovered('wh_1', 5, 1, iso(4))]);
  });

  it('a success after a success is nothing; nor is a webhook that never failed', () => {
    expect(noticesOf([attempt('wh_1', 'success', 1), attempt('wh_2', 'success', 2)], [], [])).toEqual([]);
  });

  it('a streak ended by a delivery of an operational event, or at an operator webhook, reports nothing', () => {
    const batch = [
      attempt('wh_1', 'failure', 1),
      attempt('wh_1', 'success', 2, { eventType: 'delivery.exhausted' }),
      attempt('wh_1', 'success', 3),
      attempt('wh_op', 'failure', 4, { tenantId: null, eventType: 'delivery.exhausted' }),
      attempt('wh_op', 'success', 5, { tenantId: null, eventType: 'delivery.exhausted' }),
    ];
    expect(noticesOf(batch, [{ webhookId: 'wh_op', failures: 3, failingSince: new Date(T0) }], [])).toEqual([]);
  });

  it('exhausted deliveries in order, then the webhooks disabled (but no operator webhook)', () => {
    const exhausted = { type: 'delivery.exhausted', tenantId: 'ten_a', webhookId: 'wh_1', data: {} } as Notice;
    const disabled: DisabledWebhook[] = [
      { id: 'wh_1', tenantId: 'ten_a', url: 'https://example.com/1', reason: 'gone', disabledAt: new Date(T0) },
      { id: 'wh_op', tenantId: null, url: 'https://ops.example.com', reason: 'gone', disabledAt: new Date(T0) },
    ];
    expect(noticesOf([attempt('wh_1', 'failure', 1, { exhausted })], [], disabled)).toEqual([
      exhausted,
      {
        type: 'webhook.disabled',
        tenantId: 'ten_a',
        webhookId: 'wh_1',
        data: { webhookId: 'wh_1', url: 'https://example.com/1', reason: 'gone', disabledAt: iso(0) },
      },
    ]);
  });
});

describe('exhausts: which attempts exhaust their delivery', () => {
  const tenants = { tenantId: 'ten_a', eventType: 'message.sent' };
  it.each([
    ['the last scheduled attempt of a pending delivery failed', { ...tenants, status: 'PENDING', trigger: 'SCHEDULED' }, 'FAILED', true],
    ['the last scheduled attempt of a retrying delivery failed', { ...tenants, status: 'RETRYING', trigger: 'SCHEDULED' }, 'FAILED', true],
    ['a retry by hand of a waiting delivery used up its schedule', { ...tenants, status: 'RETRYING', trigger: 'MANUAL' }, 'FAILED', true],
    ['attempts are left', { ...tenants, status: 'PENDING', trigger: 'SCHEDULED' }, 'RETRYING', false],
    ['a retry by hand of an ended delivery failed', { ...tenants, status: 'FAILED', trigger: 'MANUAL' }, 'FAILED', false],
    ['a test event failed', { ...tenants, status: 'PENDING', trigger: 'TEST' }, 'FAILED', false],
    [
      'a delivery of an operational event',
      { tenantId: 'ten_a', eventType: 'webhook.disabled', status: 'PENDING', trigger: 'SCHEDULED' },
      'FAILED',
      false,
    ],
    [
      'a delivery to an operator webhook',
      { tenantId: null, eventType: 'delivery.exhausted', status: 'PENDING', trigger: 'SCHEDULED' },
      'FAILED',
      false,
    ],
  ] as const)('%s: %s', (_name, delivery, status, expected) => {
    expect(exhausts(delivery, { status, attempted: true })).toBe(expected);
  });
});

describe('updateWebhookHealth reports a failure streak ended exactly once, however the batches interleave', () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = new pg.Pool({ connectionString: await createMigratedDatabase(), max: 3 });
    await pool.query(`insert into tenant (id, name, created_at) values ('ten_a', 'a', now())`);
    await pool.query(
      `insert into webhook (id, tenant_id, url, events, secrets, headers, consecutive_failures, failing_since, created_at, updated_at)
       values ('wh_1', 'ten_a', 'https://example.com', '["*"]', '[]', '[]', 3, $1, now(), now())`,
      [new Date(T0)],
    );
  });
  afterAll(() => pool?.end());

  const success = (at: number) => ({
    webhookId: 'wh_1',
    lastSuccessAt: new Date(at),
    lastFailureAt: null,
    hadSuccess: true,
    trailingFailures: 0,
    firstTrailingFailureAt: null,
  });

  it('two workers record a success at once: the one that commits first ends the streak; the other, waiting on it, sees none', async () => {
    const [first, second] = await Promise.all([pool.connect(), pool.connect()]);
    try {
      await first.query('begin');
      await second.query('begin');
      const [{ pid }] = (await second.query<{ pid: number }>('select pg_backend_pid() as pid')).rows;
      expect(await updateWebhookHealth(first, [success(T0 + 1000)])).toEqual([
        { webhookId: 'wh_1', failures: 3, failingSince: new Date(T0) },
      ]);
      const waiting = updateWebhookHealth(second, [success(T0 + 2000)]);
      // Committed only once the second is blocked on the row lock: otherwise it could read the
      // committed row without ever waiting, and the interleaving under test would not happen.
      await expect
        .poll(async () => (await pool.query('select wait_event_type from pg_stat_activity where pid = $1', [pid])).rows[0]?.wait_event_type)
        .toBe('Lock');
      await first.query('commit');
      expect(await waiting).toEqual([]);
      await second.query('commit');
    } finally {
      first.release();
      second.release();
    }
    const { rows } = await pool.query('select consecutive_failures, failing_since from webhook');
    expect(rows).toEqual([{ consecutive_failures: 0, failing_since: null }]);
  });
});
