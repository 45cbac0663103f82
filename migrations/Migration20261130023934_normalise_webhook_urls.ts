import { Migration } from '@mikro-orm/migrations';

/**
 * Data only, written by hand (no schema change). Webhook URLs used to be stored as typed; they
 * are now stored as WHATWG `URL.href`, the string the delivery client requests. This rewrites
 * the URLs stored before: a tab, CR or LF inside is dropped and control characters and spaces
 * at the ends are trimmed (as the client already did when it sent), the fragment (never sent) is
 * dropped, and scheme, host, port and path take their normal form. A URL that does not parse is
 * left as it is (its deliveries fail as INVALID_URL, as they did).
 */
export class Migration20261130023934_normalise_webhook_urls extends Migration {
  override name = 'Migration20261130023934_normalise_webhook_urls';

  override async up(): Promise<void> {
    const rows = (await this.execute('select id, url from webhook')) as { id: string; url: string }[];
    for (const { id, url } of rows) {
      let normalised: string;
      try {
        const parsed = new URL(url);
        parsed.hash = '';
        normalised = parsed.href.replace(/#$/, '');
      } catch {
        continue;
      }
      if (normalised !== url) await this.execute('update webhook set url = ? where id = ?', [normalised, id]);
    }
  }

  override down(): void {
    // Nothing to undo: the normalised URL is the one that was requested all along.
  }
}
