import { Migration } from '@mikro-orm/migrations';

/**
 * Which schema holds the live projection. Read from the configured schema (SECBOT_DB_SCHEMA); a rebuild fills
 * a fresh schema from the stream, then points here, and results switches without a pause in status reads.
 */
export class Migration20261123020000_pointer extends Migration {
  override name = 'Migration20261123020000_pointer';

  override up(): void {
    this.addSql(`create table "projection_pointer" (
      "id" smallint not null primary key default 1 check ("id" = 1),
      "active_schema" varchar(63) not null,
      "switched_at" timestamptz not null
    );`);
  }

  override down(): void {
    this.addSql('drop table if exists "projection_pointer";');
  }
}
