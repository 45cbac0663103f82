import { Migration } from '@mikro-orm/migrations';

export class Migration20261122222239_delivery_lease extends Migration {
  override name = 'Migration20261122222239_delivery_lease';

  override up(): void | Promise<void> {
    this.addSql(`drop index "delivery_status_next_attempt_at_index";`);
    this.addSql(
      `alter table "delivery" add "next_trigger" text not null default 'SCHEDULED', add "locked_until" timestamptz null, add "locked_by" varchar(255) null;`,
    );
    this.addSql(`create index "delivery_next_attempt_at_index" on "delivery" ("next_attempt_at");`);
    this.addSql(
      `alter table "delivery" add constraint "delivery_next_trigger_check" check ("next_trigger" in ('SCHEDULED', 'MANUAL', 'TEST'));`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop index "delivery_next_attempt_at_index";`);
    this.addSql(`alter table "delivery" drop constraint "delivery_next_trigger_check";`);
    this.addSql(`alter table "delivery" drop column "next_trigger", drop column "locked_until", drop column "locked_by";`);
    this.addSql(`create index "delivery_status_next_attempt_at_index" on "delivery" ("status", "next_attempt_at");`);
  }
}
