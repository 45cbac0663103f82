import { builder } from './builder.ts';
import './types/scalars.ts';
import './types/tenant.ts';
import './types/event-type.ts';
import './types/webhook.ts';
import './types/delivery-profile.ts';
import './types/event.ts';
import './types/delivery.ts';
import './types/webhook-stats.ts';
import './types/portal-session.ts';
import './types/subscriptions.ts';

export const schema = builder.toSchema({ sortSchema: false });
