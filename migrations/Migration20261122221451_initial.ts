import { Migration } from '@mikro-orm/migrations';

export class Migration20261122221451_initial extends Migration {
  override name = 'Migration20261122221451_initial';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "tenant" ("id" varchar(255) not null, "name" text not null, "created_at" timestamptz not null, primary key ("id"));`,
    );

    this.addSql(
      `create table "event_type" ("id" varchar(255) not null, "tenant_id" varchar(255) not null, "name" varchar(255) not null, "description" text null, "example" jsonb null, "archived" boolean not null default false, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`alter table "event_type" add constraint "event_type_tenant_id_name_unique" unique ("tenant_id", "name");`);

    this.addSql(
      `create table "event" ("id" varchar(255) not null, "tenant_id" varchar(255) not null, "type" varchar(255) not null, "channel" varchar(255) null, "payload" text not null, "idempotency_key" varchar(255) null, "request_hash" varchar(255) null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`create index "event_tenant_id_id_index" on "event" ("tenant_id", "id");`);
    this.addSql(`create index "event_tenant_id_type_id_index" on "event" ("tenant_id", "type", "id");`);
    this.addSql(`alter table "event" add constraint "event_tenant_id_idempotency_key_unique" unique ("tenant_id", "idempotency_key");`);

    this.addSql(
      `create table "api_key" ("id" varchar(255) not null, "tenant_id" varchar(255) not null, "name" text not null, "prefix" varchar(255) not null, "key_hash" varchar(255) not null, "created_at" timestamptz not null, "last_used_at" timestamptz null, "revoked_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "api_key_tenant_id_index" on "api_key" ("tenant_id");`);
    this.addSql(`alter table "api_key" add constraint "api_key_key_hash_unique" unique ("key_hash");`);

    this.addSql(
      `create table "webhook" ("id" varchar(255) not null, "tenant_id" varchar(255) not null, "url" text not null, "description" text null, "events" jsonb not null, "channels" jsonb null, "status" text not null default 'ACTIVE', "disabled_reason" text null, "signature_scheme" text not null default 'STANDARD', "secrets" jsonb not null, "auth_type" text not null default 'NONE', "auth_encrypted" text null, "headers" jsonb not null, "retry_schedule" jsonb null, "timeout_ms" int not null default 15000, "max_in_flight" int not null default 10, "consecutive_failures" int not null default 0, "failing_since" timestamptz null, "last_success_at" timestamptz null, "last_failure_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "deleted_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "webhook_tenant_id_id_index" on "webhook" ("tenant_id", "id");`);

    this.addSql(
      `create table "delivery" ("id" varchar(255) not null, "tenant_id" varchar(255) not null, "event_id" varchar(255) not null, "webhook_id" varchar(255) not null, "event_type" varchar(255) not null, "status" text not null default 'PENDING', "attempt_count" int not null default 0, "next_attempt_at" timestamptz null, "last_attempt_at" timestamptz null, "completed_at" timestamptz null, "last_response_status" int null, "last_error" varchar(255) null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(`create index "delivery_tenant_id_id_index" on "delivery" ("tenant_id", "id");`);
    this.addSql(`create index "delivery_webhook_id_id_index" on "delivery" ("webhook_id", "id");`);
    this.addSql(`create index "delivery_webhook_id_status_id_index" on "delivery" ("webhook_id", "status", "id");`);
    this.addSql(`create index "delivery_event_id_id_index" on "delivery" ("event_id", "id");`);
    this.addSql(`create index "delivery_status_next_attempt_at_index" on "delivery" ("status", "next_attempt_at");`);
    this.addSql(`alter table "delivery" add constraint "delivery_event_id_webhook_id_unique" unique ("event_id", "webhook_id");`);

    this.addSql(
      `create table "attempt" ("id" varchar(255) not null, "delivery_id" varchar(255) not null, "tenant_id" varchar(255) not null, "webhook_id" varchar(255) not null, "number" int not null, "trigger" text not null, "started_at" timestamptz not null, "duration_ms" int not null, "request_url" text not null, "request_headers" jsonb not null, "response_status" int null, "response_headers" jsonb null, "response_body" text null, "error" varchar(255) null, "error_message" text null, primary key ("id"));`,
    );
    this.addSql(`create index "attempt_delivery_id_number_index" on "attempt" ("delivery_id", "number");`);
    this.addSql(`create index "attempt_webhook_id_id_index" on "attempt" ("webhook_id", "id");`);

    this.addSql(
      `alter table "event_type" add constraint "event_type_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "event" add constraint "event_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "api_key" add constraint "api_key_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );

    this.addSql(
      `alter table "webhook" add constraint "webhook_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );
    this.addSql(`alter table "webhook" add constraint "webhook_status_check" check ("status" in ('ACTIVE', 'PAUSED', 'DISABLED'));`);
    this.addSql(
      `alter table "webhook" add constraint "webhook_signature_scheme_check" check ("signature_scheme" in ('STANDARD', 'STRIPE', 'HMAC_SHA256'));`,
    );
    this.addSql(
      `alter table "webhook" add constraint "webhook_auth_type_check" check ("auth_type" in ('NONE', 'BEARER', 'BASIC', 'API_KEY', 'CUSTOM_HEADER'));`,
    );

    this.addSql(
      `alter table "delivery" add constraint "delivery_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "delivery" add constraint "delivery_event_id_foreign" foreign key ("event_id") references "event" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "delivery" add constraint "delivery_webhook_id_foreign" foreign key ("webhook_id") references "webhook" ("id") on delete cascade;`,
    );
    this.addSql(
      `alter table "delivery" add constraint "delivery_status_check" check ("status" in ('PENDING', 'RETRYING', 'SUCCEEDED', 'FAILED', 'CANCELLED'));`,
    );

    this.addSql(
      `alter table "attempt" add constraint "attempt_delivery_id_foreign" foreign key ("delivery_id") references "delivery" ("id") on delete cascade;`,
    );
    this.addSql(`alter table "attempt" add constraint "attempt_trigger_check" check ("trigger" in ('SCHEDULED', 'MANUAL', 'TEST'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "event_type" drop constraint "event_type_tenant_id_foreign";`);
    this.addSql(`alter table "event" drop constraint "event_tenant_id_foreign";`);
    this.addSql(`alter table "api_key" drop constraint "api_key_tenant_id_foreign";`);
    this.addSql(`alter table "webhook" drop constraint "webhook_tenant_id_foreign";`);
    this.addSql(`alter table "delivery" drop constraint "delivery_tenant_id_foreign";`);
    this.addSql(`alter table "delivery" drop constraint "delivery_event_id_foreign";`);
    this.addSql(`alter table "delivery" drop constraint "delivery_webhook_id_foreign";`);
    this.addSql(`alter table "attempt" drop constraint "attempt_delivery_id_foreign";`);

    this.addSql(`drop table if exists "tenant" cascade;`);
    this.addSql(`drop table if exists "event_type" cascade;`);
    this.addSql(`drop table if exists "event" cascade;`);
    this.addSql(`drop table if exists "api_key" cascade;`);
    this.addSql(`drop table if exists "webhook" cascade;`);
    this.addSql(`drop table if exists "delivery" cascade;`);
    this.addSql(`drop table if exists "attempt" cascade;`);
  }
}
