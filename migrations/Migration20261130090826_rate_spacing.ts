import { Migration } from '@mikro-orm/migrations';

export class Migration20261130090826_rate_spacing extends Migration {
  override name = 'Migration20261130090826_rate_spacing';

  override up(): void | Promise<void> {
    this.addSql(`alter table "webhook_rate" add "spacing_ms" double precision null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "webhook_rate" drop column "spacing_ms";`);
  }
}
