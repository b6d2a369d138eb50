import { mkdirSync } from 'node:fs';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM as PgliteORM } from '@mikro-orm/pglite';
import { MikroORM as PostgresORM } from '@mikro-orm/postgresql';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from '@secbot/service-kit';
import { Migration20261123000000_initial } from '../../../migrations/Migration20261123000000_initial.ts';
import { Migration20261123010000_exceptions } from '../../../migrations/Migration20261123010000_exceptions.ts';
import { Migration20261123020000_pointer } from '../../../migrations/Migration20261123020000_pointer.ts';
import { entities } from './entities.ts';

export type DatabaseConfig =
  | { driver: 'postgresql'; dsn: string; schema: string }
  | { driver: 'pglite'; dir: string; schema: string };

export interface Database {
  /** A fork on the schema the projection currently lives in. */
  em(): EntityManager;
  /** That schema: the configured one, or the one a rebuild pointed to. */
  readonly schema: string;
  /** The configured schema, which holds the pointer. */
  readonly baseSchema: string;
  /** Reads the pointer; null when no rebuild ever switched. */
  pointedSchema(): Promise<string | null>;
  /** Migrates `schema` (creating it) and makes it the one em() and table() use. */
  switchTo(schema: string): Promise<void>;
  /** Points the configured schema at `schema` (what a rebuild does when it is done). */
  point(schema: string): Promise<void>;
  /** A table name qualified with the projection's schema, for hand-written statements. */
  table(name: string): string;
  ping(): Promise<void>;
  close(): Promise<void>;
  describe: string;
}

export const migrationsList = [Migration20261123000000_initial, Migration20261123010000_exceptions, Migration20261123020000_pointer];

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;

function common(schema: string) {
  return {
    entities,
    schema,
    extensions: [Migrator],
    discovery: { warnWhenNoEntities: true },
    migrations: { migrationsList, schema, tableName: 'mikro_orm_migrations', silent: true, snapshot: false },
    debug: false,
    allowGlobalContext: false,
  };
}

/** Where the DSN points, without its password: safe for logs and errors. */
export function describeDsn(dsn: string): string {
  try {
    const u = new URL(dsn);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'an unparsable PostgreSQL DSN';
  }
}

async function openPostgres(dsn: string, schema: string, log: Logger): Promise<PostgresORM> {
  try {
    return await PostgresORM.init({ ...common(schema), clientUrl: dsn, pool: { min: 0, max: 10 } });
  } catch (err) {
    if ((err as { code?: string }).code !== '3D000') throw err;
    // The database does not exist yet: create it through the maintenance database, then retry.
    const u = new URL(dsn);
    const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
    u.pathname = '/postgres';
    const admin = await PostgresORM.init({ entities, clientUrl: u.toString(), discovery: { warnWhenNoEntities: false } });
    try {
      await admin.em.getConnection().execute(`create database ${quoteIdent(name)}`);
      log.info({ database: name }, 'Created the PostgreSQL database');
    } finally {
      await admin.close(true);
    }
    return PostgresORM.init({ ...common(schema), clientUrl: dsn, pool: { min: 0, max: 10 } });
  }
}

/** Opens the projection database, creates its schema and applies the committed migrations. */
export async function openDatabase(config: DatabaseConfig, log: Logger): Promise<Database> {
  let orm: MikroORM;
  let describe: string;
  if (config.driver === 'postgresql') {
    describe = describeDsn(config.dsn);
    try {
      orm = await openPostgres(config.dsn, config.schema, log);
    } catch (err) {
      throw new Error(`Cannot open PostgreSQL at ${describe}: ${(err as Error).message.replace(config.dsn, describe)}. Check SECBOT_POSTGRES_DSN.`, { cause: err });
    }
  } else {
    mkdirSync(config.dir, { recursive: true });
    describe = `pglite:${config.dir}`;
    orm = await PgliteORM.init({ ...common(config.schema), dbName: config.dir });
  }
  const migrate = async (schema: string) => {
    await orm.em.getConnection().execute(`create schema if not exists ${quoteIdent(schema)}`);
    await orm.migrator.up({ schema });
  };
  await migrate(config.schema);
  let current = config.schema;
  const pointerTable = `${quoteIdent(config.schema)}.${quoteIdent('projection_pointer')}`;
  return {
    em: () => orm.em.fork({ schema: current }),
    get schema() {
      return current;
    },
    baseSchema: config.schema,
    async pointedSchema() {
      const rows: unknown = await orm.em.getConnection().execute(`select "active_schema" from ${pointerTable} where "id" = 1`);
      const first: unknown = Array.isArray(rows) ? rows[0] : undefined;
      const active = first && typeof first === 'object' && 'active_schema' in first ? first.active_schema : undefined;
      return typeof active === 'string' ? active : null;
    },
    async switchTo(schema) {
      await migrate(schema);
      current = schema;
    },
    async point(schema) {
      await orm.em
        .getConnection()
        .execute(`insert into ${pointerTable} ("id", "active_schema", "switched_at") values (1, ?, now()) on conflict ("id") do update set "active_schema" = excluded."active_schema", "switched_at" = excluded."switched_at"`, [schema]);
    },
    table: (name) => `${quoteIdent(current)}.${quoteIdent(name)}`,
    describe,
    async ping() {
      await orm.em.getConnection().execute('select 1');
    },
    async close() {
      await orm.close(true);
    },
  };
}

/** Drops schemas (tests and benchmarks clean up the isolated schemas they projected into). */
export async function dropSchemas(dsn: string, schemas: string[]): Promise<void> {
  const admin = await PostgresORM.init({ entities, clientUrl: dsn, discovery: { warnWhenNoEntities: false } });
  try {
    for (const s of schemas) await admin.em.getConnection().execute(`drop schema if exists ${quoteIdent(s)} cascade`);
  } finally {
    await admin.close(true);
  }
}
