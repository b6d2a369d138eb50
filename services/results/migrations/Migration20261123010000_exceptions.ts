import { Migration } from '@mikro-orm/migrations';

/** Exceptions to the built-in output, projected from exception.created / exception.revoked events. */
export class Migration20261123010000_exceptions extends Migration {
  override name = 'Migration20261123010000_exceptions';

  override up(): void {
    this.addSql(`create table "finding_exception" (
      "id" uuid not null primary key,
      "fingerprint" varchar(500) not null,
      "scope_kind" varchar(20) not null check ("scope_kind" in ('project', 'instance')),
      "instance_host" varchar(255) not null,
      "project_path" text null,
      "owner" varchar(200) not null,
      "reason" text not null,
      "expires_at" timestamptz null,
      "created_at" timestamptz not null,
      "revoked_at" timestamptz null,
      "revoked_by" varchar(200) null,
      "seq" bigint not null
    );`);
    this.addSql(`create index "finding_exception_lookup_idx" on "finding_exception" ("instance_host", "fingerprint");`);
  }

  override down(): void {
    this.addSql('drop table if exists "finding_exception";');
  }
}
