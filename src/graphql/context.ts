import type { IWebhook, WebhookStatus } from '../entities/Webhook.ts';
import type { ServiceContext } from '../services/context.ts';
import type { PgBoss } from 'pg-boss';
import type { PubSub } from './pubsub.ts';

/** The context of one GraphQL operation (HTTP request or WebSocket subscription). */
export interface GraphQLContext extends ServiceContext {
  pubsub: PubSub;
  boss: PgBoss;
  /** Called after a webhook was paused, resumed or deleted (wakes deliveries, tells subscribers). */
  onWebhookStatusChanged(webhook: IWebhook, from: WebhookStatus): Promise<void>;
}
