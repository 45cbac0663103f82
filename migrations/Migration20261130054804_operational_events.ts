import { Migration } from '@mikro-orm/migrations';

export class Migration20261130054804_operational_events extends Migration {
  override name = 'Migration20261130054804_operational_events';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "exhausted_fold" ("webhook_id" varchar(255) not null, "tenant_id" varchar(255) not null, "opened_at" timestamptz not null, "closes_at" timestamptz not null, "count" int not null, "latest" jsonb not null, primary key ("webhook_id"));`,
    );
    this.addSql(`create index "exhausted_fold_closes_at_index" on "exhausted_fold" ("closes_at");`);

    this.addSql(`alter table "event" alter column "tenant_id" drop not null;`);

    this.addSql(`alter table "webhook" alter column "tenant_id" drop not null;`);

    this.addSql(`alter table "delivery" alter column "tenant_id" drop not null;`);

    this.addSql(`alter table "attempt" alter column "tenant_id" drop not null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "exhausted_fold" cascade;`);

    this.addSql(`alter table "attempt" alter column "tenant_id" set not null;`);

    this.addSql(`alter table "delivery" alter column "tenant_id" set not null;`);

    this.addSql(`alter table "event" alter column "tenant_id" set not null;`);

    this.addSql(`alter table "webhook" alter column "tenant_id" set not null;`);
  }
}
