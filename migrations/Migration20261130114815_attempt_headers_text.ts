import { Migration } from '@mikro-orm/migrations';

// Header names and their one-character codes in attempt.request_headers/response_headers as
// core/header-log.ts had them when this migration was written: written out, so that this
// migration keeps meaning what it meant (the list there only ever grows).
const CODES = `values
  ('content-type', 1), ('user-agent', 2), ('webhook-id', 3), ('webhook-timestamp', 4),
  ('webhook-signature', 5), ('herald-event-type', 6), ('herald-delivery-id', 7), ('herald-attempt', 8),
  ('herald-signature', 9), ('x-herald-signature', 11), ('authorization', 12), ('date', 13),
  ('connection', 14), ('keep-alive', 15), ('content-length', 16), ('transfer-encoding', 17),
  ('server', 18), ('cache-control', 19), ('etag', 20), ('vary', 21),
  ('x-request-id', 22), ('location', 23), ('retry-after', 24), ('set-cookie', 25),
  ('content-encoding', 26), ('access-control-allow-origin', 27), ('strict-transport-security', 28), ('x-content-type-options', 29)`;

export class Migration20261130114815_attempt_headers_text extends Migration {
  override name = 'Migration20261130114815_attempt_headers_text';

  override up(): void | Promise<void> {
    // Added by hand: existing maps rewritten in core/header-log.ts's form (jsonb's key order, one
    // header a line, known names as their code; a map a line cannot hold as its JSON text). One
    // ALTER TABLE: the table is rewritten once. A function, as a USING expression cannot hold
    // a subquery.
    this.addSql(
      `create function herald_header_text(h jsonb) returns text language sql immutable as $$
         select case
           when h is null then null
           when exists (select 1 from jsonb_each(h) e
                         where jsonb_typeof(e.value) <> 'string' or e.key !~ '^[-!#$%&''*+.^_\`|~0-9A-Za-z]+$'
                            or strpos(e.value #>> '{}', chr(10)) > 0) then h::text
           else coalesce((select string_agg(coalesce(chr(c.code), e.key || ':') || e.value, chr(10) order by e.n)
                            from jsonb_each_text(h) with ordinality as e(key, value, n)
                            left join (${CODES}) as c(name, code) on c.name = e.key), '')
         end
       $$;`,
    );
    this.addSql(
      // tenant_id stays (no longer written): a worker of the release before still inserts it, and
      // records its attempts (its jsonb maps land as their JSON text) during a rolling deploy.
      `alter table "attempt" alter column "request_headers" type text using herald_header_text("request_headers"),
         alter column "response_headers" type text using herald_header_text("response_headers");`,
    );
    this.addSql(`drop function herald_header_text(jsonb);`);
  }

  override down(): void | Promise<void> {
    this.addSql(
      `create function herald_header_jsonb(t text) returns jsonb language sql immutable as $$
         select case
           when t is null then null
           when left(t, 1) = '{' then t::jsonb
           else coalesce((select jsonb_object_agg(coalesce(c.name, split_part(l, ':', 1)),
                                                  case when c.name is null then substr(l, strpos(l, ':') + 1) else substr(l, 2) end)
                            from regexp_split_to_table(nullif(t, ''), chr(10)) as l
                            left join (${CODES}) as c(name, code) on chr(c.code) = left(l, 1)), '{}'::jsonb)
         end
       $$;`,
    );
    this.addSql(
      `alter table "attempt" alter column "request_headers" type jsonb using herald_header_jsonb("request_headers"),
         alter column "response_headers" type jsonb using herald_header_jsonb("response_headers");`,
    );
    this.addSql(`drop function herald_header_jsonb(text);`);
    // The attempts recorded since have none: the release before expects it set.
    this.addSql(
      `update "attempt" a set "tenant_id" = d."tenant_id" from "delivery" d where d."id" = a."delivery_id" and a."tenant_id" is null;`,
    );
  }
}
