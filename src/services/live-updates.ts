import type { EntityManager } from '@mikro-orm/postgresql';
import { Attempt, type IAttempt } from '../entities/Attempt.ts';
import { Delivery, type IDelivery } from '../entities/Delivery.ts';
import { type IWebhook, Webhook } from '../entities/Webhook.ts';
import type { DeliveryMessage, WebhookStatusMessage } from '../live/messages.ts';

/** A live delivery message with the rows it names. */
export interface DeliveryUpdate {
  message: DeliveryMessage;
  delivery: IDelivery;
  attempt: IAttempt | null;
}

/**
 * The attempt row is written when the attempt has finished; for ATTEMPT_STARTED it may or may
 * not exist yet, so that phase never shows it (the same for every subscriber).
 */
const showsAttempt = (m: DeliveryMessage) => m.attemptId !== null && m.phase !== 'ATTEMPT_STARTED';

/**
 * The rows a batch of live delivery messages names, read in two queries whatever the batch's
 * size (messages carry only ids). A message whose delivery is gone (retention) is left out.
 */
export async function loadDeliveryUpdates(em: EntityManager, batch: readonly DeliveryMessage[]): Promise<DeliveryUpdate[]> {
  const attemptIds = [...new Set(batch.filter(showsAttempt).map((m) => m.attemptId!))];
  const [deliveries, attempts] = await Promise.all([
    em.find(Delivery, { id: { $in: [...new Set(batch.map((m) => m.deliveryId))] } }),
    attemptIds.length > 0 ? em.find(Attempt, { id: { $in: attemptIds } }) : Promise.resolve([] as IAttempt[]),
  ]);
  const deliveryById = new Map<string, IDelivery>(deliveries.map((d) => [d.id, d]));
  const attemptById = new Map<string, IAttempt>(attempts.map((a) => [a.id, a]));
  const loaded: DeliveryUpdate[] = [];
  for (const message of batch) {
    const delivery = deliveryById.get(message.deliveryId);
    if (!delivery) continue;
    loaded.push({ message, delivery, attempt: showsAttempt(message) ? (attemptById.get(message.attemptId!) ?? null) : null });
  }
  return loaded;
}

/** The webhook a status message is about; a deleted one too (soft-deleted, so its final state can be shown). */
export async function webhookOfStatusMessage(em: EntityManager, message: WebhookStatusMessage): Promise<IWebhook> {
  return em.findOneOrFail(Webhook, { id: message.webhookId });
}
