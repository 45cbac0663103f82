import { Migration } from '@mikro-orm/migrations';

export class Migration20261130085344_delivery_due extends Migration {
  override name = 'Migration20261130085344_delivery_due';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "delivery_batch" ("first_delivery_id" varchar(255) not null, "last_delivery_id" varchar(255) not null, "created_at" timestamptz not null, primary key ("first_delivery_id"));`,
    );

    this.addSql(
      `create table "delivery_due" ("delivery_id" varchar(255) not null, "webhook_id" varchar(255) not null, "priority" smallint not null default 1, "due_at" timestamptz null, "ordering_key" varchar(255) null, "ordering_seq" bigint null, primary key ("delivery_id"));`,
    );
    this.addSql(`create index "delivery_due_due_at_index" on "delivery_due" ("due_at");`);
    this.addSql(`create index "delivery_due_by_webhook" on "delivery_due" ("webhook_id", "priority", "due_at");`);
    this.addSql(
      `create index "delivery_due_by_key" on "delivery_due" ("webhook_id", "ordering_key", "ordering_seq") where ordering_key is not null;`,
    );

    // Added by hand: every delivery owed an attempt now (waiting, or a one-off attempt asked for)
    // gets its row — a waiting one with an ordering key with its key and place — before the
    // indexes that found them go. The rule as core/delivery-state.ts states it today, written
    // out so that this migration keeps meaning what it meant.
    this.addSql(
      `insert into "delivery_due" ("delivery_id", "webhook_id", "priority", "due_at", "ordering_key", "ordering_seq")
       select "id", "webhook_id", "priority", "next_attempt_at", "ordering_key", "ordering_seq" from "delivery"
        where "status" in ('PENDING', 'RETRYING') or "next_trigger" <> 'SCHEDULED';`,
    );

    this.addSql(`drop index "delivery_event_id_id_index";`);
    this.addSql(`drop index "delivery_next_attempt_at_index";`);
    this.addSql(`drop index "delivery_planned_by_webhook";`);
    this.addSql(`drop index "delivery_waiting_by_key";`);
    this.addSql(`drop index "delivery_webhook_id_status_id_index";`);
  }

  override down(): void | Promise<void> {
    // Back to indexes on the delivery table: the rows of these two tables are not needed there.
    this.addSql(`drop table if exists "delivery_batch" cascade;`);
    this.addSql(`drop table if exists "delivery_due" cascade;`);

    this.addSql(`create index "delivery_event_id_id_index" on "delivery" ("event_id", "id");`);
    this.addSql(`create index "delivery_next_attempt_at_index" on "delivery" ("next_attempt_at");`);
    this.addSql(
      `create index "delivery_planned_by_webhook" on "delivery" ("webhook_id", "priority", "next_attempt_at") where next_attempt_at is not null;`,
    );
    this.addSql(
      `create index "delivery_waiting_by_key" on "delivery" ("webhook_id", "ordering_key", "ordering_seq") where ordering_key is not null and status in ('PENDING', 'RETRYING');`,
    );
    this.addSql(`create index "delivery_webhook_id_status_id_index" on "delivery" ("webhook_id", "status", "id");`);
  }
}
