export { ApiKey } from './ApiKey.ts';
export { Attempt } from './Attempt.ts';
export { Delivery } from './Delivery.ts';
export { DeliveryBatch } from './DeliveryBatch.ts';
export { DeliveryDue } from './DeliveryDue.ts';
export { DeliveryProfile } from './DeliveryProfile.ts';
export { DeliveryProfileVersion } from './DeliveryProfileVersion.ts';
export { Event } from './Event.ts';
export { EventBody } from './EventBody.ts';
export { EventType } from './EventType.ts';
export { ExhaustedFold } from './ExhaustedFold.ts';
export { OrderingSequence } from './OrderingSequence.ts';
export { PortalSession } from './PortalSession.ts';
export { RateLimitBucket } from './RateLimitBucket.ts';
export { Tenant } from './Tenant.ts';
export { TenantSecret } from './TenantSecret.ts';
export { Webhook } from './Webhook.ts';
export { WebhookRate } from './WebhookRate.ts';
export { WebhookSlot } from './WebhookSlot.ts';
export { WebhookSlotWant } from './WebhookSlotWant.ts';

import { ApiKey } from './ApiKey.ts';
import { Attempt } from './Attempt.ts';
import { Delivery } from './Delivery.ts';
import { DeliveryBatch } from './DeliveryBatch.ts';
import { DeliveryDue } from './DeliveryDue.ts';
import { DeliveryProfile } from './DeliveryProfile.ts';
import { DeliveryProfileVersion } from './DeliveryProfileVersion.ts';
import { Event } from './Event.ts';
import { EventBody } from './EventBody.ts';
import { EventType } from './EventType.ts';
import { ExhaustedFold } from './ExhaustedFold.ts';
import { OrderingSequence } from './OrderingSequence.ts';
import { PortalSession } from './PortalSession.ts';
import { RateLimitBucket } from './RateLimitBucket.ts';
import { Tenant } from './Tenant.ts';
import { TenantSecret } from './TenantSecret.ts';
import { Webhook } from './Webhook.ts';
import { WebhookRate } from './WebhookRate.ts';
import { WebhookSlot } from './WebhookSlot.ts';
import { WebhookSlotWant } from './WebhookSlotWant.ts';

export const entities = [
  Tenant,
  ApiKey,
  EventType,
  Webhook,
  Event,
  Delivery,
  DeliveryDue,
  DeliveryBatch,
  Attempt,
  RateLimitBucket,
  PortalSession,
  DeliveryProfile,
  DeliveryProfileVersion,
  EventBody,
  TenantSecret,
  ExhaustedFold,
  WebhookSlot,
  WebhookSlotWant,
  WebhookRate,
  OrderingSequence,
];
