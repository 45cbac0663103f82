import { Migration } from '@mikro-orm/migrations';

export class Migration20261130045229_profiles extends Migration {
  override name = 'Migration20261130045229_profiles';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "delivery_profile" ("name" varchar(255) not null, "description" text null, "version_id" varchar(255) not null, "version" int not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("name"));`,
    );

    this.addSql(
      `create table "delivery_profile_version" ("id" varchar(255) not null, "profile" varchar(255) not null, "number" int not null, "definition" json not null, "created_at" timestamptz not null, primary key ("id"));`,
    );
    this.addSql(
      `alter table "delivery_profile_version" add constraint "delivery_profile_version_profile_number_unique" unique ("profile", "number");`,
    );

    this.addSql(
      `create table "event_body" ("event_id" varchar(255) not null, "profile_version" varchar(255) not null, "body" text null, "error" text null, primary key ("event_id", "profile_version"));`,
    );

    this.addSql(
      `create table "tenant_secret" ("tenant_id" varchar(255) not null, "profile" varchar(255) not null, "secrets" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, primary key ("tenant_id", "profile"));`,
    );

    this.addSql(`alter table "tenant" add "profile" varchar(255) null, add "external_id" text null;`);

    this.addSql(`alter table "event_type" alter column "tenant_id" drop not null;`);
    this.addSql(`create unique index "event_type_platform_name_unique" on "event_type" ("name") where tenant_id is null;`);

    this.addSql(`alter table "webhook" add "profile" varchar(255) null;`);

    this.addSql(`alter table "delivery" add "profile_version" varchar(255) not null default 'standard';`);

    // Added by hand: signatureScheme becomes the built-in profile of the same name. STANDARD was
    // the default, so those webhooks follow their tenant's (and the deployment's) profile; the
    // deliveries of the others keep signing as they were published.
    this.addSql(
      `update "webhook" set "profile" = case "signature_scheme" when 'STRIPE' then 'stripe' else 'hmac-sha256' end where "signature_scheme" <> 'STANDARD';`,
    );
    this.addSql(
      `update "delivery" d set "profile_version" = w."profile" from "webhook" w where w."id" = d."webhook_id" and w."profile" is not null;`,
    );
    this.addSql(`alter table "webhook" drop constraint "webhook_signature_scheme_check";`);
    this.addSql(`alter table "webhook" drop column "signature_scheme";`);

    this.addSql(
      `alter table "tenant_secret" add constraint "tenant_secret_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "delivery_profile" cascade;`);
    this.addSql(`drop table if exists "delivery_profile_version" cascade;`);
    this.addSql(`drop table if exists "event_body" cascade;`);
    this.addSql(`drop table if exists "tenant_secret" cascade;`);

    this.addSql(`alter table "delivery" drop column "profile_version";`);

    this.addSql(`drop index "event_type_platform_name_unique";`);
    this.addSql(`alter table "event_type" alter column "tenant_id" set not null;`);

    this.addSql(`alter table "tenant" drop column "profile", drop column "external_id";`);

    this.addSql(`alter table "webhook" drop column "profile";`);
    this.addSql(`alter table "webhook" add "signature_scheme" text not null default 'STANDARD';`);
    this.addSql(
      `alter table "webhook" add constraint "webhook_signature_scheme_check" check ("signature_scheme" in ('STANDARD', 'STRIPE', 'HMAC_SHA256'));`,
    );
  }
}
