export { ApiKey } from './ApiKey.ts';
export { Attempt } from './Attempt.ts';
export { Delivery } from './Delivery.ts';
export { Event } from './Event.ts';
export { EventType } from './EventType.ts';
export { PortalSession } from './PortalSession.ts';
export { RateLimitBucket } from './RateLimitBucket.ts';
export { Tenant } from './Tenant.ts';
export { Webhook } from './Webhook.ts';

import { ApiKey } from './ApiKey.ts';
import { Attempt } from './Attempt.ts';
import { Delivery } from './Delivery.ts';
import { Event } from './Event.ts';
import { EventType } from './EventType.ts';
import { PortalSession } from './PortalSession.ts';
import { RateLimitBucket } from './RateLimitBucket.ts';
import { Tenant } from './Tenant.ts';
import { Webhook } from './Webhook.ts';

export const entities = [Tenant, ApiKey, EventType, Webhook, Event, Delivery, Attempt, RateLimitBucket, PortalSession];
