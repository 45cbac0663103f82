// Flow control in the worker, between admit and prepare: the lanes' gate (lanes.ts). For each
// webhook it keeps the slots this worker holds (requests open to the webhook stay under its
// concurrency across all workers), the send times reserved under its rate, its adaptive throttle
// (core/throttle.ts), and when to pull more of its due deliveries from the table. Deliveries that
// wait — for a slot, a send time, or room in this worker — wait as rows in the table that nobody
// writes, or briefly in a lane; the shared state is in PostgreSQL (sql/flow.ts).
//
// Sharing slots. A worker keeps the slots it holds while it has deliveries of their webhook
// queued, which under a backlog is always: without more, one of three workers came to hold nearly
// every webhook's slots, and the others claimed deliveries only to give them back to it (twice
// PostgreSQL's work per delivery; three workers did a fifth less than two). So a worker that wants
// more of a webhook's slots than it holds — its acquire came back short, or its share below holds
// it back — says so (table webhook_slot_want, refreshed every SHARE_MS while it lasts), and every
// worker that holds or wants the webhook's slots reads who else wants them and keeps at most its
// share: the concurrency in force split evenly among the workers that want it, the remainder to
// the lowest worker ids (shareOf()), so the shares add up to the concurrency. A worker gives back
// free slots above its share at once and busy ones as their requests end; the others' next acquire
// gets them. A worker alone never comes back short and writes no want.
import type { Pool } from 'pg';
import { BoundedMap } from '../core/bounded-map.ts';
import { laneCap, reserveCount, spacingMs } from '../core/flow.ts';
import {
  type Adaptive,
  type AttemptSignal,
  effectiveLimits,
  initialAdaptive,
  type Limits,
  lapse,
  lowers,
  observe,
  QUIET_MS,
  sameThrottle,
  type Throttle,
} from '../core/throttle.ts';
import type { Logger } from '../logger.ts';
import type { Gate } from './lanes.ts';
import type { WebhookForDelivery } from './sql/claim-deliveries.ts';
import { acquireSlots, releaseSlots, renewSlots, reserveSendTimes, type SlotRef, shareSlots } from './sql/flow.ts';

/** A throttle to write on a webhook and announce (the recorder does, at most once a second per webhook). */
export interface ThrottleChange {
  webhookId: string;
  /** null: an operator webhook. */
  tenantId: string | null;
  throttle: Throttle | null;
  /**
   * The shared throttle's written time (epoch ms, PostgreSQL's clock) this one was reached from;
   * a change that does not lower the limits is written only over that write (sql/record-results.ts).
   */
  basedOn: number;
  /** This worker lowered the limits since it last read or wrote the shared throttle. */
  lowered: boolean;
}

/** How busy the lanes are for one webhook, and a way to start what may start. */
export interface LanesView {
  waiting(key: string): number;
  /** HIGH tasks waiting. */
  waitingHigh(key: string): number;
  running(key: string): number;
  pump(): void;
}

export interface FlowDeps {
  pool: Pool;
  workerId: string;
  leaseMs: number;
  logger: Logger;
  /** Leases up to `room` due deliveries of each webhook and places them; how many each got. */
  pull(wanted: { webhookId: string; room: number; highOnly: boolean }[]): Promise<Map<string, number>>;
  /** Gives back the queued deliveries of a webhook whose slots other workers hold (they pull them). */
  giveBack(webhookId: string): void;
  /** Throttle changes to record. */
  persist(change: ThrottleChange): void;
}

/** Requests to the database are gathered this long, then made together. */
const TICK_MS = 5;
/** How often slots, pulls and give-backs are looked at. */
const MAINTENANCE_MS = 100;
/** A webhook whose lane runs low is checked for more due deliveries this often. */
const PROBE_MS = 250;
/** How often a worker says which webhooks' slots it wants more of, and reads who else wants them. */
const SHARE_MS = 500;
/** A want not said again for this long is over (a few SHARE_MS: a slow round trip does not end it). */
const WANT_MS = 2000;
/** Free slots are kept this long after the last task, for the next ones. */
const GRACE_MS = 1000;
/** A throttle still met by signals is written again at most this often (a third of its lapse). */
const REFRESH_MS = QUIET_MS / 3;
/** Deliveries queued this long without a slot (other workers hold them all) go back to the table. */
const GIVE_BACK_MS = 1000;
/** A failed slot acquisition is tried again after this long, doubling up to the maximum. */
const ACQUIRE_RETRY_MS = 50;
const ACQUIRE_RETRY_MAX_MS = 1000;
/**
 * Send times more than this far in the past are dropped unused: a late start must not become a
 * burst. Sends happen at most this late, so a 1 s window holds at most (1 s + this) of the rate.
 */
const STALE_TIME_MS = 200;
/** Send times converted from PostgreSQL's clock may be this far off exact spacing. */
const ROUNDING_MS = 1;

class WebhookFlow {
  readonly id: string;
  tenantId: string | null = null;
  limits: Limits = { maxInFlight: 1, rateLimit: null };
  adaptiveOn = true;
  adaptive: Adaptive;
  /** The throttle's written time (epoch ms) as last read or written by this worker. */
  syncedAt = 0;
  /** The local throttle differs from what was written; when it was last offered to the recorder. */
  dirty = false;
  /** A decrease is among the local changes not written yet. */
  lowered = false;
  offeredAt = 0;
  /** The other workers that want this webhook's slots (their ids), as last read; empty: none. */
  sharers: readonly string[] = [];
  /** The last acquire came back with fewer slots than it asked for: other workers hold them. */
  short = false;
  /** Slots held and not in use (ascending), and in use. */
  free: number[] = [];
  readonly busy = new Set<number>();
  /** Reserved send times (this process's clock), ascending. */
  times: number[] = [];
  /** The send time of the latest start (its reserved time under a rate; when it started without one). */
  lastSentAt = Number.NEGATIVE_INFINITY;
  /** No send before this (epoch ms): a whole spacing of the rate after the last send, set when it was lowered. */
  notBefore = 0;
  acquiring = false;
  acquireRetryMs = ACQUIRE_RETRY_MS;
  nextAcquireAt = 0;
  reserving = false;
  pulling = false;
  lastPullAt = 0;
  /** Due deliveries of it may be left in the table (this worker left some, or a pull came back full). */
  backlog = false;
  /** Last time a task of it was queued or ran. */
  lastBusyAt = Date.now();
  /** Since when tasks have queued with no slot to run on; null: not so. */
  starvedSince: number | null = null;
  /** Starts in the current and the previous second, for the send rate. */
  meter = { second: 0, current: 0, previous: 0 };
  rateTimer: NodeJS.Timeout | null = null;

  constructor(id: string, adaptive: Adaptive) {
    this.id = id;
    this.adaptive = adaptive;
  }

  get effective(): { concurrency: number; rate: number | null } {
    return effectiveLimits(this.limits, this.adaptiveOn ? this.adaptive.throttle : null);
  }

  /** Held slots below the concurrency in force. */
  get usable(): number {
    const { concurrency } = this.effective;
    let n = 0;
    for (const s of this.free) if (s < concurrency) n++;
    for (const s of this.busy) if (s < concurrency) n++;
    return n;
  }

  get held(): number {
    return this.free.length + this.busy.size;
  }

  noteStart(now: number): void {
    const second = Math.floor(now / 1000);
    if (second !== this.meter.second) {
      this.meter.previous = second === this.meter.second + 1 ? this.meter.current : 0;
      this.meter = { second, current: 0, previous: this.meter.previous };
    }
    this.meter.current++;
  }

  /**
   * Deliveries a second started lately by this worker: those of the last 1000 ms, the previous
   * calendar second's weighted by how much of it that window still covers (previous + current
   * counted up to two seconds, and a decrease from it lowered nothing late in a second).
   */
  sendRate(now: number): number {
    const second = Math.floor(now / 1000);
    const elapsed = now / 1000 - second;
    if (second === this.meter.second) return this.meter.previous * (1 - elapsed) + this.meter.current;
    return second === this.meter.second + 1 ? this.meter.current * (1 - elapsed) : 0;
  }
}

/**
 * The flow control of one worker: the Gate of its lanes (a task starts with a slot of its
 * webhook and, under a rate, a reserved send time), fed the webhooks' settings by every claim and
 * every answer by the worker (adaptive throttling).
 */
export class FlowControl implements Gate<number> {
  private readonly flows = new Map<string, WebhookFlow>();
  /** Adaptive state of webhooks no longer active here, so their baseline is not lost. */
  private readonly resting = new BoundedMap<string, Adaptive>(10_000);
  private readonly deps: FlowDeps;
  private lanes: LanesView | null = null;
  private tickTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private tickAgain = false;
  private readonly toRelease: SlotRef[] = [];
  private readonly maintenance: NodeJS.Timeout;
  private readonly renewal: NodeJS.Timeout;
  private readonly sharing: NodeJS.Timeout;
  private sharingNow = false;
  private stopped = false;

  constructor(deps: FlowDeps) {
    this.deps = deps;
    this.maintenance = setInterval(() => this.maintain(), MAINTENANCE_MS);
    this.renewal = setInterval(
      () => {
        this.renew().catch((err) => deps.logger.warn({ err }, 'slot renewal failed'));
      },
      Math.max(250, deps.leaseMs / 3),
    );
    this.sharing = setInterval(() => {
      this.share().catch((err) => deps.logger.warn({ err }, 'sharing slots failed'));
    }, SHARE_MS);
  }

  attach(lanes: LanesView): void {
    this.lanes = lanes;
  }

  /** A webhook's current settings, as a claim or pull read them: limits, ordering, the shared throttle. */
  update(webhook: WebhookForDelivery): void {
    const flow = this.flowOf(webhook.id);
    flow.tenantId = webhook.tenantId;
    // The rate in force before these settings: a rateLimit lowered by updateWebhook drops the
    // send times reserved at the old one (compared after the new limits, it never did).
    const rateBefore = flow.effective.rate;
    const concurrencyBefore = flow.effective.concurrency;
    const raised = (webhook.rateLimit ?? Infinity) > (flow.limits.rateLimit ?? Infinity);
    flow.limits = { maxInFlight: webhook.maxInFlight, rateLimit: webhook.rateLimit };
    flow.adaptiveOn = webhook.adaptiveThrottling;
    const writtenAt = webhook.throttleWrittenAt ? Date.parse(webhook.throttleWrittenAt) : 0;
    if (writtenAt > flow.syncedAt) {
      // Another worker (or updateWebhook) wrote a throttle since: it is the one in force.
      const throttle: Throttle | null =
        webhook.throttleConcurrency !== null && webhook.throttleReason !== null && webhook.throttleSince !== null
          ? {
              concurrency: webhook.throttleConcurrency,
              rate: webhook.throttleRate,
              reason: webhook.throttleReason,
              since: new Date(webhook.throttleSince),
            }
          : null;
      const before = flow.effective;
      const previous = flow.adaptive.throttle;
      flow.adaptive = {
        ...flow.adaptive,
        throttle,
        // Unknown (null) when the shared throttle has no rate and the webhook no rateLimit: a
        // decrease then starts from the rate seen (a 0 here took the rate to the minimum).
        ceilingRate: throttle
          ? (flow.adaptive.ceilingRate ?? webhook.rateLimit ?? (throttle.rate === null ? null : throttle.rate * 2))
          : null,
        // Lifted elsewhere (a lapse, new limits): the episode's window goes with it, or the next
        // signal here would be taken for part of an episode that is over and lower nothing.
        window: throttle ? flow.adaptive.window : 0,
      };
      // Lowered elsewhere: a decrease here too, with its window. Raised elsewhere: the successes
      // counted here still count (resetting them at each write of another worker stalled the climb
      // of a rate-bound endpoint, where a window of successes takes a worker about a second).
      // A decrease, a refresh (the same throttle written again: its writer met a signal) or a
      // first sight is a signal met; a climb written by another worker is not, or climbs written
      // every few seconds kept the throttle from lapsing QUIET_MS after the last signal (one 503,
      // then a steady campaign: lifted after 60 s instead of 30).
      if (lowers(flow.effective, before)) {
        flow.adaptive = { ...flow.adaptive, changedAt: Date.now(), successes: 0, window: before.concurrency, signalAt: writtenAt };
      } else if (throttle && (previous === null || sameThrottle(previous, throttle))) {
        flow.adaptive = { ...flow.adaptive, signalAt: Math.max(flow.adaptive.signalAt, writtenAt) };
      }
      flow.syncedAt = writtenAt;
      flow.dirty = false;
      flow.lowered = false;
    }
    this.rateChanged(flow, rateBefore);
    // A raised rateLimit: the times reserved at the old spacing are given up (updateWebhook moved
    // the shared schedule back to now), so the next sends go at the new one, not one old spacing
    // later (at 0.1/s raised to 50/s, that was up to 10 s).
    if (raised && flow.times.length > 0) {
      flow.times = [];
      flow.notBefore = Math.min(flow.notBefore, flow.lastSentAt + (flow.effective.rate === null ? 0 : spacingMs(flow.effective.rate)));
    }
    // Higher limits (or a throttle lifted elsewhere) may start what its lane was refused: a timer
    // armed for a send time at the old spacing goes, and the lanes ask again (they pass a refused
    // lane by until told).
    const after = flow.effective;
    if (after.concurrency > concurrencyBefore || (after.rate ?? Infinity) > (rateBefore ?? Infinity)) {
      if (flow.rateTimer) clearTimeout(flow.rateTimer);
      flow.rateTimer = null;
      this.lanes?.pump();
    }
  }

  /** The answer to an attempt: adaptive throttling learns from it. */
  observe(webhookId: string, signal: AttemptSignal): void {
    const flow = this.flows.get(webhookId);
    if (!flow?.adaptiveOn) return;
    const now = Date.now();
    const before = flow.adaptive.throttle;
    const signalBefore = flow.adaptive.signalAt;
    const rateBefore = flow.effective.rate;
    flow.adaptive = observe(flow.adaptive, signal, flow.limits, now, flow.sendRate(now));
    if (sameThrottle(before, flow.adaptive.throttle)) {
      // A throttle still met by signals is written again now and then, so that it does not lapse
      // for the other workers, nor in the table (sweeper.ts lifts those written QUIET_MS ago).
      if (before && flow.adaptive.signalAt > signalBefore && now - flow.syncedAt >= REFRESH_MS && !flow.dirty) {
        flow.dirty = true;
        this.offer(flow, now);
      }
      return;
    }
    if (lowers(flow.effective, { concurrency: effectiveLimits(flow.limits, before).concurrency, rate: rateBefore })) flow.lowered = true;
    this.rateChanged(flow, rateBefore);
    flow.dirty = true;
    this.offer(flow, now);
    if (flow.adaptive.throttle && (!before || flow.adaptive.throttle.concurrency < before.concurrency)) this.shed(flow);
    this.lanes?.pump(); // a higher limit may start more
  }

  /** The throttle a recorded write made the shared one, at `writtenAt` (epoch ms). */
  written(webhookId: string, throttle: Throttle | null, writtenAt: number): void {
    const flow = this.flows.get(webhookId);
    if (!flow) return;
    flow.syncedAt = Math.max(flow.syncedAt, writtenAt);
    if (sameThrottle(throttle, flow.adaptive.throttle)) {
      flow.dirty = false;
      flow.lowered = false;
    }
  }

  /**
   * How many more deliveries of each active webhook this worker takes now: its lane's capacity
   * less what it holds; none while it has no slot to run them (they are left for those that do).
   */
  rooms(): Map<string, number> {
    const rooms = new Map<string, number>();
    for (const flow of this.flows.values()) rooms.set(flow.id, this.roomOf(flow));
    return rooms;
  }

  /** Due deliveries of these webhooks were left in the table: pull them when there is room. */
  leftOver(webhookIds: Iterable<string>): void {
    for (const id of webhookIds) {
      const flow = this.flows.get(id);
      if (flow) flow.backlog = true;
    }
    this.scheduleTick();
  }

  // --- Gate ---

  limit(key: string): number {
    return this.flows.get(key)?.effective.concurrency ?? 1;
  }

  take(key: string): number | null {
    const flow = this.flows.get(key);
    if (!flow) return null;
    const now = Date.now();
    flow.lastBusyAt = now;
    const { concurrency, rate } = flow.effective;
    const slot = flow.free[0];
    if (slot === undefined || slot >= concurrency) return null;
    let sentAt = now;
    if (rate !== null) {
      while (flow.times.length > 0 && (flow.times[0] < now - STALE_TIME_MS || flow.times[0] < flow.notBefore - ROUNDING_MS))
        flow.times.shift();
      const at = flow.times[0];
      if (at === undefined) return null;
      if (at > now) {
        this.armRate(flow, at);
        return null;
      }
      sentAt = flow.times.shift()!;
    }
    flow.lastSentAt = sentAt;
    flow.free.shift();
    flow.busy.add(slot);
    flow.starvedSince = null;
    flow.noteStart(now);
    return slot;
  }

  done(key: string, slot: number): void {
    const flow = this.flows.get(key);
    if (!flow) return;
    flow.busy.delete(slot);
    flow.lastBusyAt = Date.now();
    if (this.stopped || slot >= flow.effective.concurrency || flow.usable >= this.shareOf(flow)) this.release(flow, slot);
    else insertSorted(flow.free, slot);
  }

  wants(key: string): void {
    const flow = this.flows.get(key);
    if (!flow) return;
    const now = Date.now();
    flow.lastBusyAt = now;
    if (flow.usable === 0) flow.starvedSince ??= now;
    const needs = this.needs(flow, now);
    if (needs.acquire !== undefined || needs.reserve !== undefined) this.scheduleTick();
  }

  /** Stops asking for anything and frees every slot this worker holds. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.maintenance);
    clearInterval(this.renewal);
    clearInterval(this.sharing);
    if (this.tickTimer) clearTimeout(this.tickTimer);
    for (const flow of this.flows.values()) if (flow.rateTimer) clearTimeout(flow.rateTimer);
    await releaseSlots(this.deps.pool, this.deps.workerId);
  }

  // --- the rest ---

  private flowOf(id: string): WebhookFlow {
    let flow = this.flows.get(id);
    if (!flow) {
      flow = new WebhookFlow(id, this.resting.get(id) ?? initialAdaptive());
      this.resting.delete(id);
      this.flows.set(id, flow);
    }
    return flow;
  }

  private roomOf(flow: WebhookFlow): number {
    const lanes = this.lanes;
    if (!lanes) return 0;
    if (flow.starvedSince !== null) return 0;
    const { concurrency, rate } = flow.effective;
    return Math.max(0, laneCap(concurrency, rate) - lanes.waiting(flow.id) - lanes.running(flow.id));
  }

  private offer(flow: WebhookFlow, now: number): void {
    flow.offeredAt = now;
    this.deps.persist({
      webhookId: flow.id,
      tenantId: flow.tenantId,
      throttle: flow.adaptive.throttle,
      basedOn: flow.syncedAt,
      lowered: flow.lowered,
    });
  }

  /** Gives back free slots above a lowered concurrency, then the highest above this worker's share. */
  private shed(flow: WebhookFlow): void {
    const { concurrency } = flow.effective;
    for (const slot of flow.free.filter((s) => s >= concurrency)) this.release(flow, slot);
    const over = flow.usable - this.shareOf(flow);
    if (over > 0) for (const slot of flow.free.slice(-over)) this.release(flow, slot);
  }

  /**
   * How many of a webhook's slots this worker keeps: the concurrency in force, split evenly among
   * the workers that want its slots (those that said so, and this one), the remainder one each to
   * the lowest worker ids. Every worker computes the same split from the same wants, so the
   * shares add up to the concurrency; with maxInFlight below the number of workers, the highest
   * ids get none while the others want them.
   */
  private shareOf(flow: WebhookFlow): number {
    const { concurrency } = flow.effective;
    if (flow.sharers.length === 0) return concurrency;
    const workers = flow.sharers.length + 1;
    let rank = 0; // runs after every task: counted, not filtered into an array
    for (const id of flow.sharers) if (id < this.deps.workerId) rank++;
    return Math.floor(concurrency / workers) + (rank < concurrency % workers ? 1 : 0);
  }

  /** Slots of a webhook the tasks at hand can use (under a rate, those with a send time), before any share. */
  private demandOf(flow: WebhookFlow): number {
    const lanes = this.lanes;
    const waiting = lanes ? lanes.waiting(flow.id) : 0;
    const active = lanes ? lanes.running(flow.id) : 0;
    const startable = flow.effective.rate === null ? waiting : Math.min(waiting, flow.times.length + 1);
    return Math.min(flow.effective.concurrency, Math.max(active + startable, flow.backlog ? 1 : 0));
  }

  private release(flow: WebhookFlow, slot: number): void {
    flow.free = flow.free.filter((s) => s !== slot);
    this.toRelease.push({ webhookId: flow.id, slot });
    this.scheduleTick();
  }

  /**
   * After a throttle change: if the rate in force went down (from `before`), the send times
   * reserved at the old rate that no longer fit it are dropped, and the next send waits a whole
   * spacing of the new rate after the last one.
   */
  private rateChanged(flow: WebhookFlow, before: number | null): void {
    const { rate } = flow.effective;
    if (rate === null || (before !== null && rate >= before)) return;
    flow.notBefore = flow.lastSentAt + spacingMs(rate);
    this.fit(flow);
  }

  /** Drops the reserved send times that come sooner after the previous one than the rate in force allows. */
  private fit(flow: WebhookFlow): void {
    const { rate } = flow.effective;
    if (rate === null) return;
    const spacing = spacingMs(rate);
    let last = flow.lastSentAt;
    flow.times = flow.times.filter((at) => {
      if (at < last + spacing - ROUNDING_MS) return false;
      last = at;
      return true;
    });
  }

  private armRate(flow: WebhookFlow, at: number): void {
    if (flow.rateTimer) return;
    flow.rateTimer = setTimeout(
      () => {
        flow.rateTimer = null;
        this.lanes?.pump();
      },
      Math.max(0, at - Date.now()),
    );
  }

  private scheduleTick(): void {
    if (this.stopped) return;
    if (this.ticking) {
      this.tickAgain = true;
      return;
    }
    if (this.tickTimer) return;
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      this.tick();
    }, TICK_MS);
  }

  /**
   * What a webhook needs from the database now: slots to take (as many as the tasks at hand can
   * use, under a rate those with a send time, below the concurrency in force and this worker's
   * share of it; with a backlog in the table, one to pull it with), send times to reserve (a quarter of a second's worth at most,
   * for the tasks queued, while a slot is free to send on), and a pull (as its lane runs low; HIGH ones only, at every probe, when
   * it is full — they go to the front). Nothing is asked while the same request is under way.
   */
  private needs(flow: WebhookFlow, now: number): { acquire?: number; reserve?: number; pull?: { room: number; highOnly: boolean } } {
    const lanes = this.lanes;
    const { concurrency, rate } = flow.effective;
    const waiting = lanes ? lanes.waiting(flow.id) : 0;
    const needs: ReturnType<FlowControl['needs']> = {};
    if (rate !== null) {
      while (flow.times.length > 0 && flow.times[0] < now - STALE_TIME_MS) flow.times.shift();
      // Only while a slot is free to send on: with every slot busy (a slow or hanging endpoint)
      // the times would go stale unused, and be reserved again, a write every few hundred ms.
      const slotFree = flow.free.some((s) => s < concurrency);
      const count = slotFree ? reserveCount(waiting - flow.times.length, rate) : 0;
      if (!flow.reserving && count > 0) needs.reserve = count;
    }
    const wanted = Math.min(this.demandOf(flow), this.shareOf(flow));
    if (!flow.acquiring && now >= flow.nextAcquireAt && flow.usable < wanted) needs.acquire = wanted - flow.usable;
    if (flow.pulling || flow.usable === 0) return needs;
    const room = this.roomOf(flow);
    const probe = now - flow.lastPullAt >= PROBE_MS;
    if (room > 0 && waiting <= concurrency && (flow.backlog || probe)) needs.pull = { room, highOnly: false };
    else if (room === 0 && probe) needs.pull = { room: concurrency, highOnly: true };
    return needs;
  }

  /** Makes the gathered requests: slots to take and to free, send times to reserve, pulls. */
  private tick(): void {
    const now = Date.now();
    const acquire: { webhookId: string; limit: number; want: number }[] = [];
    const reserve: { webhookId: string; count: number; spacingMs: number }[] = [];
    const pull: { webhookId: string; room: number; highOnly: boolean }[] = [];
    for (const flow of this.flows.values()) {
      const needs = this.needs(flow, now);
      const { concurrency, rate } = flow.effective;
      if (needs.reserve !== undefined && rate !== null) {
        flow.reserving = true;
        reserve.push({ webhookId: flow.id, count: needs.reserve, spacingMs: spacingMs(rate) });
      }
      if (needs.acquire !== undefined) {
        flow.acquiring = true;
        acquire.push({ webhookId: flow.id, limit: concurrency, want: needs.acquire });
      }
      if (needs.pull) {
        flow.pulling = true;
        flow.lastPullAt = now;
        pull.push({ webhookId: flow.id, ...needs.pull });
      }
    }
    const released = this.toRelease.splice(0);
    if (acquire.length + reserve.length + pull.length + released.length === 0) return;
    this.ticking = true;
    const { pool, workerId, leaseMs, logger } = this.deps;
    const work = [
      acquireSlots(pool, workerId, leaseMs, acquire).then(
        (got) => this.acquired(acquire, got),
        (err) => {
          logger.warn({ err }, 'taking slots failed');
          this.acquired(acquire, []);
        },
      ),
      reserveSendTimes(pool, reserve).then(
        (got) => this.reserved(reserve, got),
        (err) => {
          logger.warn({ err }, 'reserving send times failed');
          this.reserved(reserve, []);
        },
      ),
      releaseSlots(pool, workerId, released).catch((err) => logger.warn({ err }, 'freeing slots failed')),
      (pull.length > 0 ? this.deps.pull(pull) : Promise.resolve(new Map<string, number>())).then(
        (got) => this.pulled(pull, got),
        (err) => {
          logger.warn({ err }, 'pulling deliveries failed');
          this.pulled(pull, null);
        },
      ),
    ];
    void Promise.all(work).finally(() => {
      this.ticking = false;
      // New slots and send times may start tasks (and a refused task asks for what it lacks).
      this.lanes?.pump();
      if (this.tickAgain) {
        this.tickAgain = false;
        this.scheduleTick();
      }
    });
  }

  private acquired(asked: { webhookId: string; want: number }[], got: SlotRef[]): void {
    for (const { webhookId, slot } of got) {
      const flow = this.flows.get(webhookId);
      if (flow && !this.stopped) insertSorted(flow.free, slot);
      else this.toRelease.push({ webhookId, slot });
    }
    const gotBy = new Map<string, number>();
    for (const s of got) gotBy.set(s.webhookId, (gotBy.get(s.webhookId) ?? 0) + 1);
    const now = Date.now();
    for (const { webhookId, want } of asked) {
      const flow = this.flows.get(webhookId);
      if (!flow) continue;
      flow.acquiring = false;
      flow.short = (gotBy.get(webhookId) ?? 0) < want;
      if (gotBy.has(webhookId)) {
        flow.acquireRetryMs = ACQUIRE_RETRY_MS;
        flow.nextAcquireAt = 0;
      } else {
        // Other workers hold them all: ask again later, less often the longer it lasts.
        flow.nextAcquireAt = now + flow.acquireRetryMs;
        flow.acquireRetryMs = Math.min(ACQUIRE_RETRY_MAX_MS, flow.acquireRetryMs * 2);
      }
    }
  }

  private reserved(asked: { webhookId: string }[], got: { webhookId: string; first: number; count: number; spacingMs: number }[]) {
    for (const { webhookId } of asked) {
      const flow = this.flows.get(webhookId);
      if (flow) flow.reserving = false;
    }
    for (const r of got) {
      const flow = this.flows.get(r.webhookId);
      if (!flow) continue;
      for (let i = 0; i < r.count; i++) flow.times.push(r.first + i * r.spacingMs);
      // Reserved at a rate lowered since: spaced as it is now.
      const { rate } = flow.effective;
      if (rate !== null && r.spacingMs < spacingMs(rate)) this.fit(flow);
    }
  }

  private pulled(asked: { webhookId: string; room: number; highOnly: boolean }[], got: Map<string, number> | null): void {
    for (const { webhookId, room, highOnly } of asked) {
      const flow = this.flows.get(webhookId);
      if (!flow) continue;
      flow.pulling = false;
      // A full pull means more may be there; a short one, that the table held no more just now.
      if (got && !highOnly) flow.backlog = (got.get(webhookId) ?? 0) >= room;
    }
  }

  /** Every 100 ms: frees slots no longer needed, gives back what starves, forgets idle webhooks, lifts quiet throttles. */
  private maintain(): void {
    const now = Date.now();
    const lanes = this.lanes;
    for (const flow of [...this.flows.values()]) {
      if (flow.adaptiveOn && flow.adaptive.throttle) {
        const lapsed = lapse(flow.adaptive, now);
        if (lapsed !== flow.adaptive) {
          flow.adaptive = lapsed;
          flow.dirty = true;
          this.offer(flow, now);
          lanes?.pump();
        }
      }
      const waiting = lanes ? lanes.waiting(flow.id) : 0;
      const active = lanes ? lanes.running(flow.id) : 0;
      this.shed(flow);
      if (flow.dirty && now - flow.offeredAt >= 1000) this.offer(flow, now);
      if (waiting > 0 && flow.usable === 0) {
        flow.starvedSince ??= now;
        // A HIGH one must not wait for this worker's next try: the holders pull HIGH ones first.
        if (now - flow.starvedSince >= GIVE_BACK_MS || (lanes?.waitingHigh(flow.id) ?? 0) > 0) {
          // Other workers hold every slot: leave these to them (they pull), and come back for
          // the rest once a slot frees.
          this.deps.giveBack(flow.id);
          flow.backlog = true;
          flow.starvedSince = null;
        }
      } else if (waiting === 0) {
        flow.starvedSince = null;
      }
      const idle = waiting === 0 && active === 0 && now - flow.lastBusyAt >= GRACE_MS && !flow.backlog;
      if (idle && flow.free.length > 0) for (const slot of [...flow.free]) this.release(flow, slot);
      if (idle && flow.held === 0 && !flow.dirty && !flow.acquiring && !flow.pulling && !flow.reserving) {
        if (flow.rateTimer) clearTimeout(flow.rateTimer);
        this.resting.set(flow.id, flow.adaptive);
        this.flows.delete(flow.id);
      }
    }
    if (this.flows.size > 0 || this.toRelease.length > 0) this.scheduleTick();
  }

  /**
   * Every SHARE_MS: says which webhooks' slots this worker wants more of (a short acquire, or a
   * share that holds it back, while its tasks could use more than it holds), reads who else wants
   * the slots of those it holds or wants, and gives back what is above its share (sharing slots,
   * at the top). Nothing is asked of a worker that holds and wants no slot.
   */
  private async share(): Promise<void> {
    if (this.sharingNow || this.stopped) return;
    const wanting: string[] = [];
    const asked: string[] = [];
    for (const flow of this.flows.values()) {
      const demand = this.demandOf(flow);
      const wants = demand > flow.usable && (flow.short || demand > this.shareOf(flow));
      if (wants) wanting.push(flow.id);
      if (wants || flow.held > 0) asked.push(flow.id);
    }
    if (asked.length === 0) return;
    this.sharingNow = true;
    try {
      const others = await shareSlots(this.deps.pool, this.deps.workerId, WANT_MS, wanting, asked);
      for (const flow of this.flows.values()) {
        flow.sharers = others.get(flow.id) ?? [];
        this.shed(flow);
      }
    } finally {
      this.sharingNow = false;
    }
    // A larger share may take more slots, a smaller one has freed some.
    this.scheduleTick();
  }

  /** Renews the slots held; forgets those lost (lapsed, and taken by another worker meanwhile). */
  private async renew(): Promise<void> {
    const known: SlotRef[] = [];
    for (const flow of this.flows.values()) for (const slot of [...flow.free, ...flow.busy]) known.push({ webhookId: flow.id, slot });
    const renewed = await renewSlots(this.deps.pool, this.deps.workerId, this.deps.leaseMs, known);
    const held = new Set(renewed.map((s) => `${s.webhookId} ${s.slot}`));
    for (const flow of this.flows.values()) {
      const lost = flow.free.filter((s) => !held.has(`${flow.id} ${s}`));
      if (lost.length > 0) {
        this.deps.logger.warn({ webhookId: flow.id, slots: lost }, 'slots lapsed and were taken by another worker');
        flow.free = flow.free.filter((s) => held.has(`${flow.id} ${s}`));
      }
    }
  }
}

function insertSorted(list: number[], value: number): void {
  let i = 0;
  while (i < list.length && list[i] < value) i++;
  if (list[i] !== value) list.splice(i, 0, value);
}
