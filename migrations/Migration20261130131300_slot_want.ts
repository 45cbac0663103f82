import { Migration } from '@mikro-orm/migrations';

export class Migration20261130131300_slot_want extends Migration {
  override name = 'Migration20261130131300_slot_want';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "webhook_slot_want" ("webhook_id" text not null, "worker_id" text not null, "until" timestamptz not null, primary key ("webhook_id", "worker_id"));`,
    );
    // Added by hand (entities cannot say it), as for webhook_slot: wants are refreshed while
    // workers contend for slots and mean nothing after a crash, so the table writes no WAL.
    this.addSql(`alter table "webhook_slot_want" set unlogged;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "webhook_slot_want" cascade;`);
  }
}
