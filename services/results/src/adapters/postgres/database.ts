import { mkdirSync } from 'node:fs';
import { Migrator } from '@mikro-orm/migrations';
import { MikroORM as PgliteORM } from '@mikro-orm/pglite';
import { MikroORM as PostgresORM } from '@mikro-orm/postgresql';
import type { EntityManager, MikroORM } from '@mikro-orm/core';
import type { Logger } from '@secbot/service-kit';
import { Migration20261123000000_initial } from '../../../migrations/Migration20261123000000_initial.ts';
import { Migration20261123010000_exceptions } from '../../../migrations/Migration20261123010000_exceptions.ts';
import { entities } from './entities.ts';

export type DatabaseConfig =
  | { driver: 'postgresql'; dsn: string; schema: string }
  | { driver: 'pglite'; dir: string; schema: string };

export interface Database {
  em(): EntityManager;
  schema: string;
  /** A table name qualified with the projection's schema, for hand-written statements. */
  table(name: string): string;
  ping(): Promise<void>;
  close(): Promise<void>;
  describe: string;
}

export const migrationsList = [Migration20261123000000_initial, Migration20261123010000_exceptions];

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
  const connection = orm.em.getConnection();
  await connection.execute(`create schema if not exists ${quoteIdent(config.schema)}`);
  await orm.migrator.up();
  return {
    em: () => orm.em.fork(),
    schema: config.schema,
    table: (name) => `${quoteIdent(config.schema)}.${quoteIdent(name)}`,
    describe,
    async ping() {
      await orm.em.getConnection().execute('select 1');
    },
    async close() {
      await orm.close(true);
    },
  };
}
