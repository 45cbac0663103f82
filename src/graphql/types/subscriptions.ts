import { filter, pipe } from 'graphql-yoga';
import { Webhook } from '../../entities/Webhook.ts';
import { builder } from '../builder.ts';
import { WebhookRef } from './webhook.ts';

builder.subscriptionField('webhookStatusChanged', (t) =>
  t.field({
    type: WebhookRef,
    description: 'Pause, resume, auto-disable (with reason) and delete of the caller’s webhooks.',
    args: { webhookId: t.arg.id({ required: false }) },
    subscribe: (_root, args, ctx) =>
      pipe(
        ctx.pubsub.subscribe('webhookStatusChanged'),
        filter(
          (m) =>
            (ctx.caller.kind === 'admin' || m.tenantId === ctx.caller.tenantId) &&
            (!args.webhookId || m.webhookId === String(args.webhookId)),
        ),
      ),
    resolve: async (message, _args, ctx) => {
      // A fresh read: the message carries ids only. Deleted webhooks are still loaded once more.
      const webhook = await ctx.em.fork().findOne(Webhook, { id: message.webhookId });
      if (!webhook) throw new Error(`webhook ${message.webhookId} vanished`);
      return webhook;
    },
  }),
);
