import { webhookStats, type WebhookStats } from '../../services/webhook-stats.ts';
import { builder } from '../builder.ts';
import { WebhookRef } from './webhook.ts';

const WebhookStatsRef = builder.objectRef<WebhookStats>('WebhookStats').implement({
  description: 'A webhook’s health: recent volume, success rate, failure streak and latency.',
  fields: (t) => ({
    deliveries24h: t.exposeInt('deliveries24h', { description: 'Deliveries created in the last 24 h.' }),
    succeeded24h: t.exposeInt('succeeded24h'),
    failed24h: t.exposeInt('failed24h'),
    successRate24h: t.exposeFloat('successRate24h', { nullable: true, description: 'Of the last 24 h’s finished deliveries, 0–1.' }),
    lastSuccessAt: t.expose('lastSuccessAt', { type: 'DateTime', nullable: true }),
    lastFailureAt: t.expose('lastFailureAt', { type: 'DateTime', nullable: true }),
    consecutiveFailures: t.exposeInt('consecutiveFailures', { description: 'Failed attempts since the last success.' }),
    latencyP50Ms: t.exposeInt('latencyP50Ms', { nullable: true, description: 'Median duration of the last 100 attempts.' }),
    latencyP95Ms: t.exposeInt('latencyP95Ms', { nullable: true, description: '95th percentile duration of the last 100 attempts.' }),
  }),
});

builder.objectField(WebhookRef, 'stats', (t) =>
  t.field({ type: WebhookStatsRef, resolve: (webhook, _args, ctx) => webhookStats(ctx.em, webhook.id) }),
);
