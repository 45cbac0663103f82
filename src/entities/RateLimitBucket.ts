import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * One token bucket of the rate limiter, shared by every API process (services/rate-limits.ts).
 * The bucket is kept as the time it will be full again: with `rate` tokens a second and room for
 * `burst`, it holds `burst - (fullAt - now) * rate` tokens. A row whose `fullAt` has passed is a
 * full bucket, the same as no row. The table is UNLOGGED (see its migration).
 */
export const RateLimitBucket = defineEntity({
  name: 'RateLimitBucket',
  tableName: 'rate_limit_bucket',
  properties: {
    /** `tenant:<id>`, `admin`, `auth-failure:<address>`. */
    key: p.text().primary(),
    fullAt: p.datetime(),
  },
});

export type IRateLimitBucket = InferEntity<typeof RateLimitBucket>;
