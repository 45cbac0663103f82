import { createPubSub } from 'graphql-yoga';

/** Live-status topics. Payloads are small (ids and status); subscribers load the rest. */
export interface WebhookStatusMessage {
  tenantId: string;
  webhookId: string;
  status: string;
  deleted: boolean;
}

export type Topics = {
  webhookStatusChanged: [WebhookStatusMessage];
};

export type PubSub = ReturnType<typeof createHeraldPubSub>;

export function createHeraldPubSub() {
  return createPubSub<Topics>();
}
