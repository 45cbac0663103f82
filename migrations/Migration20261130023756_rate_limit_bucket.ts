import { Migration } from '@mikro-orm/migrations';

export class Migration20261130023756_rate_limit_bucket extends Migration {
  override name = 'Migration20261130023756_rate_limit_bucket';

  override up(): void | Promise<void> {
    this.addSql(`create table "rate_limit_bucket" ("key" text not null, "full_at" timestamptz not null, primary key ("key"));`);

    // Added by hand (entities cannot say it): every API request updates a row here, so the
    // table writes no WAL and a commit that touched only it does not wait for a WAL flush.
    // After a crash PostgreSQL empties it, which only refills every bucket.
    this.addSql(`alter table "rate_limit_bucket" set unlogged;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "rate_limit_bucket" cascade;`);
  }
}
