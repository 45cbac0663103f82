import { authHeaders, readAuth } from '../core/auth.ts';
import { FieldErrors, validationError } from '../core/errors.ts';
import { EVENT_TYPE_NAME, EVENT_TYPE_NAME_MAX } from '../core/event-types.ts';
import { newId } from '../core/ids.ts';
import { buildPayload } from '../core/payload.ts';
import { eventInput, REDACTED, TransformError } from '../core/profiles/render.ts';
import { activeSecrets } from '../core/secrets.ts';
import { Tenant } from '../entities/Tenant.ts';
import { USER_AGENT } from '../version.ts';
import type { ServiceContext } from './context.ts';
import { MAX_EVENT_DATA_BYTES } from './events.ts';
import { effectiveProfile, tenantSecrets } from './profile-secrets.ts';
import { currentVersions } from './profiles.ts';
import { getWebhook } from './webhooks.ts';

export interface DeliveryPreview {
  /** The profile that applies to the webhook now. */
  profile: string;
  body: string;
  /** In the order they would be sent; auth values and signatures `[redacted]`. */
  headers: { name: string; value: string }[];
}

/**
 * What the webhook's endpoint would receive for an event of `type` with `data` published now:
 * the exact body and headers of a first attempt under the profile that applies, with its auth
 * and signatures redacted (a signature shows its format, one `[redacted]` per live secret).
 * Nothing is stored or sent. A profile expression failing on this event is a VALIDATION_ERROR
 * on `data` naming the definition's field.
 */
export async function previewDelivery(
  ctx: ServiceContext,
  input: { webhookId: string; type: string; data: unknown; channel?: string | null },
): Promise<DeliveryPreview> {
  const webhook = await getWebhook(ctx, input.webhookId);
  const errors = new FieldErrors();
  if (!EVENT_TYPE_NAME.test(input.type) || input.type.length > EVENT_TYPE_NAME_MAX) errors.add('type', 'is not an event type name');
  if (Buffer.byteLength(JSON.stringify(input.data ?? null)) > MAX_EVENT_DATA_BYTES) errors.add('data', 'is over 256 KiB serialized');
  errors.throwIfAny();
  // An operator webhook belongs to no tenant: its own profile or the deployment's, and `tenant` null.
  const tenant = webhook.tenant ? await ctx.em.findOneOrFail(Tenant, webhook.tenant.id) : null;
  const name = effectiveProfile(webhook.profile, tenant?.profile, ctx.config);
  const profile = (await currentVersions(ctx.em, [name])).get(name);
  if (!profile) throw validationError([{ field: 'webhookId', message: `the webhook's profile "${name}" does not exist` }]);
  const { definition } = profile.version;
  const createdAt = new Date();
  const event = {
    id: newId('evt', createdAt.getTime()),
    type: input.type,
    channel: input.channel ?? null,
    createdAt,
    data: input.data ?? null,
    tenant: tenant && { id: tenant.id, name: tenant.name, externalId: tenant.externalId ?? null },
  };
  const secrets =
    definition.secret.scope !== 'TENANT' ? webhook.secrets : tenant ? ((await tenantSecrets(ctx.em, tenant.id, name)) ?? []) : [];
  try {
    const body = (await profile.renderBody(eventInput(event))) ?? buildPayload({ ...event, tenantId: tenant?.id ?? null });
    const auth = authHeaders(readAuth(webhook, ctx.encryptionKey));
    const { headers } = await profile.renderHeaders({
      eventId: event.id,
      eventType: event.type,
      event: () => eventInput(event),
      deliveryId: newId('dlv'),
      attemptNumber: 1,
      timestamp: Math.floor(createdAt.getTime() / 1000),
      body,
      // Signatures are shown redacted: only how many there are matters.
      secrets: definition.signature ? activeSecrets(secrets).map(() => '') : [],
      customHeaders: webhook.headers,
      authHeaders: auth,
      userAgent: USER_AGENT,
      redactSignatures: true,
    });
    for (const header of Object.keys(auth)) headers[header] = REDACTED;
    return { profile: name, body, headers: Object.entries(headers).map(([name, value]) => ({ name, value })) };
  } catch (error) {
    if (!(error instanceof TransformError)) throw error;
    throw validationError([{ field: 'data', message: `profile "${name}": definition.${error.message}` }]);
  }
}
