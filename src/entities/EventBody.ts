import { defineEntity, type InferEntity, p } from '@mikro-orm/core';

/**
 * The body of an event under one profile version whose `body` is an expression, rendered once
 * at publish time and shared by every webhook on that version (the envelope of the other
 * profiles is the event's own payload). `error` instead of `body` when the expression failed:
 * those deliveries fail with error TRANSFORM. No foreign key, as for deliveries: retention
 * deletes bodies with their events.
 */
export const EventBody = defineEntity({
  name: 'EventBody',
  tableName: 'event_body',
  properties: {
    eventId: p.string().primary(),
    profileVersion: p.string().primary(),
    body: p.text().nullable(),
    error: p.text().nullable(),
  },
});

export type IEventBody = InferEntity<typeof EventBody>;
