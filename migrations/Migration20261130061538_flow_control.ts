import { Migration } from '@mikro-orm/migrations';

export class Migration20261130061538_flow_control extends Migration {
  override name = 'Migration20261130061538_flow_control';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "ordering_sequence" ("webhook_id" text not null, "ordering_key" varchar(255) not null, "last_seq" bigint not null, "updated_at" timestamptz not null, primary key ("webhook_id", "ordering_key"));`,
    );

    this.addSql(
      `create table "webhook_rate" ("webhook_id" text not null, "next_send_at" timestamptz not null, primary key ("webhook_id"));`,
    );

    this.addSql(
      `create table "webhook_slot" ("webhook_id" text not null, "slot" int not null, "held_by" text null, "held_until" timestamptz not null, primary key ("webhook_id", "slot"));`,
    );

    // Added by hand (entities cannot say it): slots and rate schedules are written as workers
    // send, so these tables write no WAL. After a crash PostgreSQL empties them: every slot is
    // free and every schedule starts afresh, as after the lease of every worker lapsed.
    this.addSql(`alter table "webhook_slot" set unlogged;`);
    this.addSql(`alter table "webhook_rate" set unlogged;`);

    this.addSql(`alter table "event_type" add "priority" text null;`);
    this.addSql(`alter table "event_type" add constraint "event_type_priority_check" check ("priority" in ('HIGH', 'NORMAL', 'LOW'));`);

    this.addSql(
      `alter table "webhook" add "rate_limit" double precision null, add "adaptive_throttling" boolean not null default true, add "ordering" text not null default 'NONE', add "throttle_concurrency" int null, add "throttle_rate" double precision null, add "throttle_reason" text null, add "throttle_since" timestamptz null, add "throttle_written_at" timestamptz null;`,
    );
    this.addSql(`alter table "webhook" add constraint "webhook_ordering_check" check ("ordering" in ('NONE', 'KEYED'));`);
    this.addSql(
      `alter table "webhook" add constraint "webhook_throttle_reason_check" check ("throttle_reason" in ('HTTP_429', 'HTTP_503', 'TIMEOUT', 'SLOW'));`,
    );

    this.addSql(
      `alter table "delivery" add "priority" smallint not null default 1, add "ordering_key" varchar(255) null, add "ordering_seq" bigint null;`,
    );
    this.addSql(
      `create index "delivery_planned_by_webhook" on "delivery" ("webhook_id", "priority", "next_attempt_at") where next_attempt_at is not null;`,
    );
    this.addSql(
      `create index "delivery_waiting_by_key" on "delivery" ("webhook_id", "ordering_key", "ordering_seq") where ordering_key is not null and status in ('PENDING', 'RETRYING');`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "ordering_sequence" cascade;`);
    this.addSql(`drop table if exists "webhook_rate" cascade;`);
    this.addSql(`drop table if exists "webhook_slot" cascade;`);

    this.addSql(`drop index "delivery_planned_by_webhook";`);
    this.addSql(`drop index "delivery_waiting_by_key";`);
    this.addSql(`alter table "delivery" drop column "priority", drop column "ordering_key", drop column "ordering_seq";`);

    this.addSql(`alter table "event_type" drop constraint "event_type_priority_check";`);
    this.addSql(`alter table "event_type" drop column "priority";`);

    this.addSql(`alter table "webhook" drop constraint "webhook_ordering_check";`);
    this.addSql(`alter table "webhook" drop constraint "webhook_throttle_reason_check";`);
    this.addSql(
      `alter table "webhook" drop column "rate_limit", drop column "adaptive_throttling", drop column "ordering", drop column "throttle_concurrency", drop column "throttle_rate", drop column "throttle_reason", drop column "throttle_since", drop column "throttle_written_at";`,
    );
  }
}
