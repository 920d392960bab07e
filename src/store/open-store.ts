/**
 * Opens the store: PostgreSQL when a `postgres://` / `postgresql://` URL is
 * given (replicas share it), otherwise an embedded SQLite file. Runs the
 * migrations before returning; concurrent openers on one PostgreSQL database
 * are serialised by kysely's migration lock (an advisory lock).
 */
import fs from "node:fs";
import path from "node:path";
import SqliteDatabase from "better-sqlite3";
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from "kysely";
import { SqlKeyStore } from "./key-store.js";
import { SqlLedger } from "./ledger.js";
import { SqlResponseStore } from "./response-store.js";
import { openPgPool } from "./pg-pool.js";
import { SqliteWriterClient } from "./sqlite-writer-client.js";
import { migrationProvider, type Database } from "./schema.js";
import type { Store } from "./types.js";

export interface OpenStoreOptions {
  /** `postgres://…` selects PostgreSQL; anything else (or nothing) selects SQLite. */
  databaseUrl?: string | null;
  sqlitePath: string;
  /**
   * SQLite only (its default is the `sqliteSync` setting's, settings.ts).
   * `full`: every commit is fsynced before a ledger row counts as written, so
   * it survives power loss. `normal`: WAL commits reach the OS but are fsynced
   * at checkpoints — they survive a crash or kill -9 of chatport, not of the
   * machine — and cost ~25x less on the request path.
   */
  sqliteSync: "full" | "normal";
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.databaseUrl ?? "";
  const dialect = /^postgres(ql)?:\/\//i.test(url) ? "postgres" : "sqlite";
  const db = dialect === "postgres" ? openPostgres(url) : openSqlite(options.sqlitePath, options.sqliteSync);
  try {
    await migrate(db, dialect);
  } catch (error) {
    await db.destroy();
    throw error;
  }
  // better-sqlite3 cannot bind JS booleans; PostgreSQL wants real ones.
  const bool = dialect === "sqlite" ? (b: boolean) => (b ? 1 : 0) : (b: boolean) => b;
  const keys = new SqlKeyStore(db, bool);
  // SQLite: ledger commits (and their fsyncs) run on a worker thread, after the migrations made the table.
  const writer = dialect === "sqlite" ? new SqliteWriterClient({ file: options.sqlitePath, sync: options.sqliteSync }) : null;
  const ledger = new SqlLedger(db, dialect, bool, writer);
  let closing: Promise<void> | null = null;
  return {
    dialect,
    keys,
    ledger,
    responses: new SqlResponseStore(db),
    ping: async () => {
      await sql`select 1`.execute(db);
    },
    close: () =>
      (closing ??= (async () => {
        await ledger.close();
        await db.destroy();
      })()),
  };
}

function openSqlite(file: string, sync: "full" | "normal"): Kysely<Database> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const database = new SqliteDatabase(file);
  database.pragma("journal_mode = WAL");
  // FULL: a commit is fsynced before record() resolves, so a resolved ledger row survives power loss.
  database.pragma(`synchronous = ${sync === "normal" ? "NORMAL" : "FULL"}`);
  database.pragma("busy_timeout = 5000");
  database.pragma("foreign_keys = ON");
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}

function openPostgres(databaseUrl: string): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: openPgPool(databaseUrl) }) });
}

async function migrate(db: Kysely<Database>, dialect: "sqlite" | "postgres"): Promise<void> {
  // kysely decides whether its migration tables exist by looking in every
  // schema of the database, so pin them to our schema (the first one in
  // search_path): otherwise a second store in another schema of the same
  // database would skip creating them.
  let migrationTableSchema: string | undefined;
  if (dialect === "postgres") {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    migrationTableSchema = rows[0]?.schema ?? undefined;
    if (!migrationTableSchema) throw new Error("PostgreSQL: no schema in search_path exists to hold the chatport tables");
  }
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === "Error")?.migrationName ?? "setup";
    throw new Error(`store migration (${failed}) failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
}
