import { createPubSub } from 'graphql-yoga';
import type { DeliveryMessage, WebhookStatusMessage } from '../live/messages.ts';

/** Live-status topics, fed by the LISTEN connection (live/listener.ts) from every process. */
export type Topics = {
  webhookStatusChanged: [WebhookStatusMessage];
  deliveryUpdated: [DeliveryMessage];
};

export type PubSub = ReturnType<typeof createHeraldPubSub>;

export function createHeraldPubSub() {
  return createPubSub<Topics>();
}
