import { Migration } from '@mikro-orm/migrations';

/** The check-status projection: one row per check, its event timeline, and the stream position applied. */
export class Migration20261123000000_initial extends Migration {
  override name = 'Migration20261123000000_initial';

  override up(): void {
    this.addSql(`create table "security_check" (
      "id" varchar(200) not null primary key,
      "status" varchar(20) not null check ("status" in ('in_progress', 'success', 'fail', 'error')),
      "project_id" integer null,
      "project_path" text null,
      "commit_sha" varchar(64) null,
      "event_type" varchar(20) null,
      "job_name" text null,
      "state" jsonb not null,
      "created_at" timestamptz not null,
      "updated_at" timestamptz not null,
      "last_seq" bigint not null
    );`);
    this.addSql(`create index "security_check_project_updated_idx" on "security_check" ("project_path", "updated_at" desc);`);
    this.addSql(`create index "security_check_status_updated_idx" on "security_check" ("status", "updated_at");`);
    this.addSql(`create table "check_event" (
      "check_id" varchar(200) not null,
      "seq" bigint not null,
      "event_id" uuid not null,
      "type" varchar(64) not null,
      "version" integer not null,
      "source" varchar(64) not null,
      "occurred_at" timestamptz not null,
      "summary" text not null,
      primary key ("check_id", "seq")
    );`);
    this.addSql(`create unique index "check_event_event_id_uq" on "check_event" ("event_id");`);
    this.addSql(`create table "projection_cursor" (
      "name" varchar(100) not null primary key,
      "last_seq" bigint not null,
      "applied" bigint not null default 0,
      "updated_at" timestamptz not null
    );`);
  }

  override down(): void {
    this.addSql('drop table if exists "projection_cursor";');
    this.addSql('drop table if exists "check_event";');
    this.addSql('drop table if exists "security_check";');
  }
}
