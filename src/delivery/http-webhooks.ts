import type { Pool } from 'pg';
import type { Logger } from '../logger.ts';
import { httpWebhooks } from './sql/http-webhooks.ts';

/**
 * Once at start of a delivering process, with HERALD_ALLOW_HTTP off: one warning when webhooks
 * have http:// URLs (created while it was on, as the README's development run does). Their
 * attempts fail with INVALID_URL and are retried for days; without this line nothing said why.
 * Logs the count and a few ids, never the URLs; a failure to count is logged at debug only.
 */
export async function warnOfHttpWebhooks(pool: Pool, logger: Logger): Promise<void> {
  try {
    const { count, active, ids } = await httpWebhooks(pool);
    if (count === 0) return;
    logger.warn(
      { count, active, webhookIds: ids },
      `${count} ${count === 1 ? 'webhook has an http:// URL' : 'webhooks have http:// URLs'} (${active} active): ` +
        'every attempt to them fails with INVALID_URL while HERALD_ALLOW_HTTP is off. ' +
        'Set HERALD_ALLOW_HTTP=true (local development only), or update their URLs to https://.',
    );
  } catch (err) {
    // Only advice: a failure here must not stop the worker.
    logger.debug({ err }, 'could not count webhooks with http:// URLs');
  }
}
