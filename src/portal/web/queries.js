// The GraphQL operations the portal sends: all of them public API, the same a platform's own UI would use.

const WEBHOOK_FIELDS = `id url description events channels status disabledReason profile deliveryProfile
  auth { type username headerName } headers { name value } retrySchedule timeoutMs secretCount createdAt
  maxInFlight rateLimit adaptiveThrottling ordering throttle { concurrency rate reason since }
  stats { deliveries24h succeeded24h failed24h lastSuccessAt lastFailureAt consecutiveFailures waiting }`;

export const DELIVERY_FIELDS = `id status eventType webhookId eventId attemptCount createdAt lastAttemptAt nextAttemptAt
  lastResponseStatus lastError completedAt webhook { deletedAt }`;

/**
 * Whether a delivery's endpoint was deleted, so it cannot be retried (Herald answers CONFLICT):
 * its webhook says so when read with DELIVERY_FIELDS, and a live update saying CANCELLED does
 * too (only a delete cancels a delivery).
 */
export const endpointDeleted = (d) => d.status === 'CANCELLED' || Boolean(d.webhook?.deletedAt);

export const TENANT = `query PortalTenant { tenant { id name } }`;

export const CATALOG = `query PortalCatalog { eventTypes { name description example archived } }`;

/** The delivery profiles the platform offers, and the one that applies to endpoints that name none. */
export const PROFILES = `query PortalProfiles { deliveryProfiles { name description builtIn definition } tenant { deliveryProfile } }`;

export const WEBHOOKS = `query PortalWebhooks($after: String) {
  webhooks(first: 100, after: $after) { edges { node { ${WEBHOOK_FIELDS} } } pageInfo { hasNextPage endCursor } }
}`;

export const CREATE_WEBHOOK = `mutation PortalCreateWebhook($input: CreateWebhookInput!) {
  createWebhook(input: $input) { webhook { ${WEBHOOK_FIELDS} } secret }
}`;

export const UPDATE_WEBHOOK = `mutation PortalUpdateWebhook($id: ID!, $input: UpdateWebhookInput!) {
  updateWebhook(id: $id, input: $input) { ${WEBHOOK_FIELDS} }
}`;

export const DELETE_WEBHOOK = `mutation PortalDeleteWebhook($id: ID!) { deleteWebhook(id: $id) { id } }`;

export const ROTATE_SECRET = `mutation PortalRotateSecret($id: ID!) {
  rotateWebhookSecret(id: $id) { webhook { ${WEBHOOK_FIELDS} } secret }
}`;

export const SEND_TEST = `mutation PortalSendTest($webhookId: ID!) { sendTestEvent(webhookId: $webhookId) { ${DELIVERY_FIELDS} } }`;

export const DELIVERIES = `query PortalDeliveries($first: Int, $after: String, $filter: DeliveryFilter) {
  deliveries(first: $first, after: $after, filter: $filter) {
    edges { cursor node { ${DELIVERY_FIELDS} } }
    pageInfo { hasNextPage endCursor }
  }
}`;

export const DELIVERY = `query PortalDelivery($id: ID!) {
  delivery(id: $id) {
    ${DELIVERY_FIELDS}
    webhook { id url }
    profile body
    event { id type channel data createdAt }
    attempts { id number trigger startedAt durationMs requestUrl requestHeaders responseStatus responseHeaders responseBody error errorMessage }
  }
}`;

export const RETRY = `mutation PortalRetry($id: ID!) { retryDelivery(id: $id) { ${DELIVERY_FIELDS} } }`;

export const REPLAY_FAILED = `mutation PortalReplay($webhookId: ID!, $since: DateTime!, $until: DateTime) {
  replayFailedDeliveries(webhookId: $webhookId, since: $since, until: $until) { count }
}`;
