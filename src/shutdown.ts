import { settlesBy } from './core/deadline.ts';
import type { Logger } from './logger.ts';

/**
 * The steps of a stop, in the order they run, all under one deadline (HERALD_SHUTDOWN_TIMEOUT
 * from the signal). A role registers the steps it started; a step for something not started
 * is skipped.
 *  - drain:    /readyz answers 503; after SIGTERM the API keeps serving for HERALD_SHUTDOWN_DRAIN,
 *              so load balancers take the process out of rotation before its port closes
 *  - api:      stop taking requests and subscriptions (HTTP and WebSocket)
 *  - live:     stop listening for live updates
 *  - worker:   stop claiming, let attempts in flight finish, end the rest, record, let go of leases
 *  - jobs:     stop pg-boss
 *  - orm:      close the ORM's connections
 *  - ops:      close a worker's ops endpoints (/healthz answers until here) and their connections
 *  - database: stop the embedded PostgreSQL: last, since every step above may still write
 *  - timers:   what keeps the process alive for no one
 */
export const STOP_STEPS = ['drain', 'api', 'live', 'worker', 'jobs', 'orm', 'ops', 'database', 'timers'] as const;
export type StopStep = (typeof STOP_STEPS)[number];

/** Time kept back from the other steps for stopping the embedded PostgreSQL: its fast shutdown takes well under a second. */
const DATABASE_RESERVE_MS = 2000;

/** Stops one part by `deadline` (epoch ms); the worker's resolves with `{ leftLeased }`. */
type StopFn = (deadline: number) => Promise<unknown>;

export interface StopOutcome {
  /** Deliveries still leased to this process (neither recorded nor let go of): sent again once the lease lapses. */
  leftLeased: number;
  /** Steps still running at the deadline, left behind. */
  overran: StopStep[];
}

/** What each started part of Herald needs done to stop, run in the order of STOP_STEPS. */
export class Shutdown {
  private readonly steps = new Map<StopStep, StopFn[]>();
  private readonly logger: Logger;
  private started = false;

  /** Whether a stop has begun: errors from connections being closed are expected from then on. */
  get running(): boolean {
    return this.started;
  }

  constructor(logger: Logger) {
    this.logger = logger;
  }

  /**
   * Registers how to stop one part; `stop` gets the deadline (epoch ms) it must be done by. Parts
   * of one step stop in the reverse of the order they were added, as they were started.
   */
  add(step: StopStep, stop: StopFn): void {
    this.steps.set(step, [stop, ...(this.steps.get(step) ?? [])]);
  }

  /**
   * Runs the registered steps in order, each bounded by the deadline `timeoutMs` from now (the
   * steps before the embedded database's by a little less, to leave it time to stop). A step
   * that fails is logged and the stop goes on.
   */
  async run(timeoutMs: number): Promise<StopOutcome> {
    this.started = true;
    const deadline = Date.now() + timeoutMs;
    const beforeDatabase = this.steps.has('database') ? deadline - Math.min(DATABASE_RESERVE_MS, timeoutMs / 5) : deadline;
    const outcome: StopOutcome = { leftLeased: 0, overran: [] };
    for (const name of STOP_STEPS) {
      const until = name === 'database' || name === 'timers' ? deadline : beforeDatabase;
      for (const stop of this.steps.get(name) ?? []) {
        const step = stop(until).then(
          (result) => {
            outcome.leftLeased += (result as { leftLeased?: number } | undefined)?.leftLeased ?? 0;
          },
          (err) => this.logger.error({ err, step: name }, 'error while stopping'),
        );
        if (!(await settlesBy(step, until))) {
          outcome.overran.push(name);
          this.logger.warn({ step: name, timeoutMs }, 'still stopping at the shutdown timeout: moving on');
        }
      }
      this.steps.delete(name);
    }
    return outcome;
  }
}
