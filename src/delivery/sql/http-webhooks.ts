import type { Pool } from 'pg';

/** How many webhook ids the start-up warning names: enough to find them, not a dump. */
const IDS_SHOWN = 3;

/**
 * Webhooks not deleted whose URL is `http://` (accepted while HERALD_ALLOW_HTTP was on): every
 * attempt of theirs fails with INVALID_URL once it is off, the paused and disabled ones' too when
 * they are resumed or retried by hand. Returns how many, how many of them are ACTIVE, and the
 * first few ids (by id); never the URLs, which may carry credentials. Stored URLs are normalised
 * (core/webhook-url.ts), so the scheme is lowercase.
 */
export async function httpWebhooks(pool: Pool): Promise<{ count: number; active: number; ids: string[] }> {
  const { rows } = await pool.query<{ count: number; active: number; ids: string[] | null }>(
    `select count(*)::int as count, (count(*) filter (where status = 'ACTIVE'))::int as active,
            (array_agg(id order by id))[1:${IDS_SHOWN}] as ids
       from webhook
      where deleted_at is null and url like 'http://%'`,
  );
  return { count: rows[0].count, active: rows[0].active, ids: rows[0].ids ?? [] };
}
