import { Migration } from '@mikro-orm/migrations';

export class Migration20261130034129_portal_session extends Migration {
  override name = 'Migration20261130034129_portal_session';

  override up(): void | Promise<void> {
    this.addSql(
      `create table "portal_session" ("id" varchar(255) not null, "tenant_id" varchar(255) not null, "read_only" boolean not null default false, "code_hash" varchar(255) not null, "token_hash" varchar(255) null, "created_at" timestamptz not null, "expires_at" timestamptz not null, "opened_at" timestamptz null, "revoked_at" timestamptz null, primary key ("id"));`,
    );
    this.addSql(`create index "portal_session_tenant_id_index" on "portal_session" ("tenant_id");`);
    this.addSql(`alter table "portal_session" add constraint "portal_session_code_hash_unique" unique ("code_hash");`);
    this.addSql(`alter table "portal_session" add constraint "portal_session_token_hash_unique" unique ("token_hash");`);

    this.addSql(
      `alter table "portal_session" add constraint "portal_session_tenant_id_foreign" foreign key ("tenant_id") references "tenant" ("id") on delete cascade;`,
    );
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "portal_session" cascade;`);
  }
}
