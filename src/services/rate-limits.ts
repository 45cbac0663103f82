import type { IncomingMessage } from 'node:http';
import type { MikroORM } from '@mikro-orm/postgresql';
import proxyaddr from 'proxy-addr';
import type { Config, RateLimit, RateLimits } from '../config.ts';
import { BoundedMap } from '../core/bounded-map.ts';
import { HeraldError } from '../core/errors.ts';
import { rawQuery } from '../db/raw-query.ts';
import type { Logger } from '../logger.ts';
import type { Caller } from './caller.ts';

/**
 * Takes one token from bucket $1 (a token every $2 ms, room for $3 ms of them, i.e. burst × $2)
 * in one statement, atomic across API processes: the bucket is the time it is full again
 * (RateLimitBucket), and a token is taken by moving that time on by $2 — unless that would put
 * it more than a burst ahead of now, which is a refusal: no row returned, nothing changed.
 * "Now" is clock_timestamp(), read once the row is locked, not now() (when the statement
 * started): a take that started first but got the row after another saw the bucket as fuller
 * than it was, and was refused while it held a token (1 token of 2 for 3 simultaneous requests
 * on a fresh bucket, in 2 % of tries on a loaded machine).
 */
const TAKE_TOKEN = `
insert into rate_limit_bucket as b (key, full_at) values ($1, clock_timestamp() + $2::float8 * interval '1 millisecond')
on conflict (key) do update set full_at = greatest(b.full_at, clock_timestamp()) + $2::float8 * interval '1 millisecond'
  where greatest(b.full_at, clock_timestamp()) + $2::float8 * interval '1 millisecond' <= clock_timestamp() + $3::float8 * interval '1 millisecond'
returning 1`;

/** After a refusal: how far ahead the bucket is, read afresh (the refusing statement's snapshot may predate the row). */
const FULL_IN_MS = `select (extract(epoch from full_at - now()) * 1000)::float8 as full_in_ms from rate_limit_bucket where key = $1`;

/** A bucket whose time has passed is full, the same as none: such rows are deleted now and then. */
const SWEEP_EVERY_MS = 5 * 60_000;

export interface RateLimiter {
  /**
   * Authenticates a request with `authenticate` and takes a token from the caller's bucket
   * (`take`). A failed authentication (UNAUTHORIZED) takes a token from the client address's
   * bucket; once that is empty the address is refused, whatever key it sends, until it refills.
   * @throws HeraldError RATE_LIMITED (429, `retry-after` header and `extensions.retryAfter` in
   *   seconds), or whatever `authenticate` throws.
   */
  admit(request: IncomingMessage, authenticate: () => Promise<Caller>): Promise<Caller>;
  /**
   * Takes a token from the caller's bucket: one per tenant (all its keys and other credentials
   * share it), one for the admin key.
   * @throws HeraldError RATE_LIMITED when the bucket is empty.
   */
  take(caller: Caller): Promise<void>;
}

/** The bucket of a caller: by tenant, so that minting more keys (or sessions) does not add any. */
function bucketOf(caller: Caller, limits: Readonly<RateLimits>): { key: string; limit: RateLimit } {
  return caller.kind === 'admin' ? { key: 'admin', limit: limits.admin } : { key: `tenant:${caller.tenantId}`, limit: limits.tenant };
}

function rateLimited(message: string, retryAfter: number): HeraldError {
  return new HeraldError('RATE_LIMITED', `${message}: retry in ${retryAfter} s`, { retryAfter }, { 'retry-after': String(retryAfter) });
}

/** Token-bucket rate limits kept in PostgreSQL, so that they hold across API processes. */
export function createRateLimiter(
  orm: MikroORM,
  config: Readonly<Pick<Config, 'rateLimits' | 'trustedProxies'>>,
  logger: Logger,
): RateLimiter {
  const limits = config.rateLimits;
  const trust = proxyaddr.compile([...config.trustedProxies]);
  /** Addresses refused for failed authentications, until when (ms): checked before any lookup. */
  const refusedUntil = new BoundedMap<string, number>(10_000);
  let sweptAt = Date.now();

  function sweep(): void {
    if (Date.now() - sweptAt < SWEEP_EVERY_MS) return;
    sweptAt = Date.now();
    rawQuery(orm.em.fork(), 'delete from rate_limit_bucket where full_at < now()').catch((err) =>
      logger.warn({ err }, 'could not delete expired rate-limit buckets'),
    );
  }

  /** Takes a token; returns 0 when one was taken, else the whole seconds until one is back. */
  async function takeToken(key: string, { rate, burst }: RateLimit): Promise<number> {
    if (rate === 0) return 0;
    sweep();
    const interval = 1000 / rate;
    const em = orm.em.fork();
    const taken = await rawQuery(em, TAKE_TOKEN, [key, interval, burst * interval]);
    if (taken.length) return 0;
    const [row] = await rawQuery<{ full_in_ms: number }>(em, FULL_IN_MS, [key]);
    // The next token is back once the bucket is within burst - 1 tokens of full.
    const waitMs = (row?.full_in_ms ?? interval) - (burst - 1) * interval;
    return Math.max(1, Math.ceil(waitMs / 1000));
  }

  async function take(caller: Caller): Promise<void> {
    const { key, limit } = bucketOf(caller, limits);
    const retryAfter = await takeToken(key, limit);
    if (retryAfter) {
      const who = caller.kind === 'admin' ? 'the admin key' : 'this tenant';
      throw rateLimited(`Over the rate limit of ${limit.rate} requests/s (burst ${limit.burst}) for ${who}`, retryAfter);
    }
  }

  return {
    async admit(request, authenticate) {
      // The TCP peer, or the client X-Forwarded-For names when the peer is a trusted proxy.
      const address = proxyaddr(request, trust);
      const failedTooOften = (seconds: number) =>
        rateLimited(`Too many failed authentications from ${address} (HERALD_AUTH_FAILURE_RATE_LIMIT)`, seconds);
      const until = refusedUntil.get(address);
      if (until !== undefined) {
        if (until > Date.now()) throw failedTooOften(Math.ceil((until - Date.now()) / 1000));
        refusedUntil.delete(address);
      }
      let caller: Caller;
      try {
        caller = await authenticate();
      } catch (error) {
        if (error instanceof HeraldError && error.code === 'UNAUTHORIZED') {
          const retryAfter = await takeToken(`auth-failure:${address}`, limits.authFailure);
          if (retryAfter) {
            refusedUntil.set(address, Date.now() + retryAfter * 1000);
            throw failedTooOften(retryAfter);
          }
        }
        throw error;
      }
      await take(caller);
      return caller;
    },

    take,
  };
}
