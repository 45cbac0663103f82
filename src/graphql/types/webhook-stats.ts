import DataLoader from 'dataloader';
import type { IWebhook } from '../../entities/Webhook.ts';
import { type WebhookStats, webhookStats } from '../../services/webhook-stats.ts';
import { builder } from '../builder.ts';
import type { GraphQLContext } from '../context.ts';
import { WebhookRef } from './webhook.ts';

const WebhookStatsRef = builder.objectRef<WebhookStats>('WebhookStats').implement({
  description: 'A webhook’s health: recent volume, success rate, failure streak and latency.',
  fields: (t) => ({
    deliveries24h: t.exposeInt('deliveries24h', { description: 'Deliveries created in the last 24 h.' }),
    succeeded24h: t.exposeInt('succeeded24h', { description: 'Of deliveries24h, those that SUCCEEDED.' }),
    failed24h: t.exposeInt('failed24h', {
      description: 'Of deliveries24h, those that ended FAILED. Those still being retried are in neither count.',
    }),
    successRate24h: t.exposeFloat('successRate24h', {
      nullable: true,
      description:
        'succeeded24h / (succeeded24h + failed24h), 0–1: the rate among finished deliveries; null while none has finished (deliveries still being retried, whatever consecutiveFailures says).',
    }),
    lastSuccessAt: t.expose('lastSuccessAt', { type: 'DateTime', nullable: true }),
    lastFailureAt: t.expose('lastFailureAt', { type: 'DateTime', nullable: true }),
    consecutiveFailures: t.exposeInt('consecutiveFailures', { description: 'Failed attempts since the last success.' }),
    latencyP50Ms: t.exposeInt('latencyP50Ms', { nullable: true, description: 'Median duration of the last 100 attempts.' }),
    latencyP95Ms: t.exposeInt('latencyP95Ms', { nullable: true, description: '95th percentile duration of the last 100 attempts.' }),
    waiting: t.exposeInt('waiting', {
      description:
        'Deliveries held back now: due but not yet sent for want of a slot (maxInFlight), a send time (rateLimit, throttle) or a worker — in the table or queued in a worker beyond the requests that may be open — and, while ACTIVE, those waiting behind an earlier delivery of their ordering key. They use no attempts.',
    }),
  }),
});

/** One loader per request: a page of webhooks asking for stats is one statement, not one each. */
const loaders = new WeakMap<GraphQLContext, DataLoader<IWebhook, WebhookStats>>();

function statsLoader(ctx: GraphQLContext): DataLoader<IWebhook, WebhookStats> {
  let loader = loaders.get(ctx);
  if (!loader) {
    loader = new DataLoader((webhooks) => webhookStats(ctx.em, webhooks), { cacheKeyFn: (w) => w.id });
    loaders.set(ctx, loader);
  }
  return loader;
}

builder.objectField(WebhookRef, 'stats', (t) =>
  t.field({ type: WebhookStatsRef, resolve: (webhook, _args, ctx) => statsLoader(ctx).load(webhook) }),
);
