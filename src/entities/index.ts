export { Tenant } from './Tenant.ts';
export { ApiKey } from './ApiKey.ts';
export { EventType } from './EventType.ts';
export { Webhook } from './Webhook.ts';
export { Event } from './Event.ts';
export { Delivery } from './Delivery.ts';
export { Attempt } from './Attempt.ts';

import { Tenant } from './Tenant.ts';
import { ApiKey } from './ApiKey.ts';
import { EventType } from './EventType.ts';
import { Webhook } from './Webhook.ts';
import { Event } from './Event.ts';
import { Delivery } from './Delivery.ts';
import { Attempt } from './Attempt.ts';

export const entities = [Tenant, ApiKey, EventType, Webhook, Event, Delivery, Attempt];
