import { type AttemptTrigger, DELIVERY_STATUSES, type DueFields } from '../../src/core/delivery-state.ts';

/** The cases the due rule is checked on, here and in SQL (delivery-state-sql.test.ts). */
export function dueCases(base: Date): (DueFields & { name: string })[] {
  const t = (ms: number) => new Date(base.getTime() + ms);
  const cases: (DueFields & { name: string })[] = [];
  const times = { past: t(-3_600_000), justPast: t(-60_000), future: t(3_600_000), none: null } as const;
  const leases = { none: null, lapsed: t(-30_000), live: t(600_000) } as const;
  for (const status of DELIVERY_STATUSES) {
    for (const nextTrigger of ['SCHEDULED', 'MANUAL', 'TEST'] as AttemptTrigger[]) {
      for (const [when, nextAttemptAt] of Object.entries(times)) {
        for (const [lease, lockedUntil] of Object.entries(leases)) {
          cases.push({ name: `${status}/${nextTrigger}/next ${when}/lease ${lease}`, status, nextTrigger, nextAttemptAt, lockedUntil });
        }
      }
    }
  }
  return cases;
}
