import { DELIVERY_PHASES, type DeliveryStatus } from '../../core/delivery-state.ts';
import type { IAttempt } from '../../entities/Attempt.ts';
import type { IDelivery } from '../../entities/Delivery.ts';
import type { IWebhook } from '../../entities/Webhook.ts';
import type { LiveSubscription } from '../../live/bus.ts';
import type { DeliveryMessage, LiveMessage, WebhookStatusMessage } from '../../live/messages.ts';
import { type LiveScope, resolveLiveScope } from '../../services/live-scope.ts';
import { type DeliveryUpdate as LoadedUpdate, loadDeliveryUpdates, webhookOfStatusMessage } from '../../services/live-updates.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { AttemptRef, DeliveryRef, DeliveryStatusEnum } from './delivery.ts';
import { WebhookRef } from './webhook.ts';

/**
 * Updates that may wait for a subscriber that has stopped reading before it is disconnected as
 * too slow. A subscriber that keeps reading may have up to 10 × this waiting during a burst.
 */
export const SUBSCRIBER_QUEUE_LIMIT = 1000;
/** WebSocket close code for a subscriber that reads too slowly (4xxx: application-defined). */
export const SLOW_SUBSCRIBER_CLOSE_CODE = 4429;

const DeliveryPhaseEnum = builder.enumType('DeliveryPhase', {
  values: DELIVERY_PHASES,
});

interface DeliveryUpdate {
  phase: DeliveryMessage['phase'];
  /** The delivery's status as of this phase (one of DELIVERY_STATUSES). */
  status: DeliveryStatus;
  delivery: IDelivery;
  attempt: IAttempt | null;
  nextAttemptAt: Date | null;
}

const DeliveryUpdateRef = builder.objectRef<DeliveryUpdate>('DeliveryUpdate').implement({
  description: 'A change of a delivery, with the attempt that caused it (if any).',
  fields: (t) => ({
    phase: t.expose('phase', { type: DeliveryPhaseEnum }),
    status: t.expose('status', {
      type: DeliveryStatusEnum,
      description:
        'The delivery’s status as of this phase (ATTEMPT_STARTED of a first attempt: PENDING; a retry by hand keeps the delivery’s FAILED or SUCCEEDED until its attempt is recorded). `delivery` is read when the update is sent, so in a burst it may already be further along: follow a delivery phase by phase with this field.',
    }),
    delivery: t.expose('delivery', {
      type: DeliveryRef,
      description: 'The delivery as it is when the update is sent (it may be past this phase).',
    }),
    attempt: t.expose('attempt', { type: AttemptRef, nullable: true }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', nullable: true }),
  }),
});

/** Whether a message is within what a subscriber watches. */
function inScope(scope: LiveScope, m: DeliveryMessage | WebhookStatusMessage): boolean {
  return (
    (!scope.tenantId || m.tenantId === scope.tenantId) &&
    (!scope.webhookId || m.webhookId === scope.webhookId) &&
    (m.kind !== 'delivery' || !scope.eventId || m.eventId === scope.eventId)
  );
}

function subscribeTo<T extends LiveMessage>(ctx: GraphQLContext, accept: (m: LiveMessage) => m is T) {
  return ctx.live.subscribe(accept, {
    limit: SUBSCRIBER_QUEUE_LIMIT,
    onOverflow: () => ctx.closeConnection?.(SLOW_SUBSCRIBER_CLOSE_CODE, 'Subscriber too slow: updates dropped, reconnect and re-read'),
  });
}

/** The arguments every subscription narrows itself with; resolveLiveScope checks them. */
const scopeArgs = builder.args((t) => ({
  webhookId: t.id({ required: false, description: 'One webhook of the caller’s (another is NOT_FOUND).' }),
  tenantId: t.id({
    required: false,
    description: 'One tenant: the admin key watches every tenant without it; a tenant key may name only its own (another is NOT_FOUND).',
  }),
}));

builder.subscriptionField('deliveryUpdated', (t) =>
  t.field({
    type: DeliveryUpdateRef,
    description: 'Every change of the caller’s deliveries: queued, attempt started/finished, retry scheduled, final status.',
    args: {
      ...scopeArgs,
      eventId: t.arg.id({ required: false, description: 'One event of the caller’s (another is NOT_FOUND).' }),
    },
    subscribe: async (_root, args, ctx) => {
      const scope = await resolveLiveScope(ctx, args);
      const messages = subscribeTo(ctx, (m): m is DeliveryMessage => m.kind === 'delivery' && inScope(scope, m));
      return loadInBatches(ctx, messages);
    },
    resolve: (update: LoadedUpdate | LoadFailure) => {
      // A failed read is one error in the stream, which goes on (as a failing resolver would).
      if ('error' in update) throw update.error;
      return {
        phase: update.message.phase,
        status: update.message.status,
        delivery: update.delivery,
        attempt: update.attempt,
        nextAttemptAt: update.message.nextAttemptAt ? new Date(update.message.nextAttemptAt) : null,
      };
    },
  }),
);

/** Most waiting messages whose rows one batch loads (one query per table). */
const LOAD_BATCH = 200;

interface LoadFailure {
  error: unknown;
}

/**
 * The messages carry ids; the rows are read when the subscriber is ready for them, for all
 * messages waiting at that moment at once (two queries per batch rather than two per update),
 * so a subscriber that keeps reading keeps up with bursts. Written as a plain iterator, not an
 * async generator, so that return() ends a subscription at once even while it waits.
 */
function loadInBatches(ctx: GraphQLContext, source: LiveSubscription<DeliveryMessage>): AsyncIterableIterator<LoadedUpdate | LoadFailure> {
  let ready: (LoadedUpdate | LoadFailure)[] = [];
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<LoadedUpdate | LoadFailure>> {
      while (ready.length === 0) {
        const first = await source.next();
        if (first.done) return { value: undefined, done: true };
        ready = await loadDeliveryUpdates(ctx.em.fork(), [first.value, ...source.takeQueued(LOAD_BATCH - 1)]).catch((error: unknown) => [
          { error },
        ]);
      }
      return { value: ready.shift()!, done: false };
    },
    async return(): Promise<IteratorResult<LoadedUpdate | LoadFailure>> {
      ready = [];
      await source.return?.();
      return { value: undefined, done: true };
    },
  };
}

builder.subscriptionField('webhookStatusChanged', (t) =>
  t.field({
    type: WebhookRef,
    description:
      'Pause, resume, auto-disable (with reason) and delete of the caller’s webhooks, and changes of their adaptive throttle (at most once a second each).',
    args: scopeArgs,
    subscribe: async (_root, args, ctx) => {
      const scope = await resolveLiveScope(ctx, args);
      return subscribeTo(ctx, (m): m is WebhookStatusMessage => m.kind === 'webhook' && inScope(scope, m));
    },
    resolve: (message: WebhookStatusMessage, _args, ctx): Promise<IWebhook> => webhookOfStatusMessage(ctx.em.fork(), message),
  }),
);
