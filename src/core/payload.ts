// The body every endpoint receives (DESIGN.md, "What an endpoint receives"). Pure.

/**
 * The JSON body of an event, built once at publish time and stored with the event, so that
 * every attempt sends (and signs) the same bytes:
 * `{"id","type","timestamp","tenantId","channel","data"}`, `timestamp` in ISO 8601 UTC.
 */
export function buildPayload(event: {
  id: string;
  type: string;
  createdAt: Date;
  /** The tenant the event concerns (an operational event's copy for operator webhooks names it too); null for none. */
  tenantId: string | null;
  channel: string | null;
  data: unknown;
}): string {
  return JSON.stringify({
    id: event.id,
    type: event.type,
    timestamp: event.createdAt.toISOString(),
    tenantId: event.tenantId,
    channel: event.channel,
    data: event.data,
  });
}
