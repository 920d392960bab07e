/**
 * The store's tables: their TypeScript row types (for kysely) and the one
 * migration set both dialects run. Times are integer epoch milliseconds
 * (bigint), booleans are `boolean` columns (INTEGER 0/1 on SQLite), model
 * lists are JSON text. Migrations are append-only: never edit a shipped one.
 */
import type { Kysely, Migration, MigrationProvider } from "kysely";

export interface ApiKeysTable {
  id: string;
  name: string;
  owner: string | null;
  /** JSON array of model ids; null = every model. */
  models: string | null;
  /** sha256 hex of the secret. */
  secret_hash: string;
  prefix: string;
  rpm: number | null;
  tpm: number | null;
  budget_unit: string | null;
  budget_amount: number | null;
  budget_period: string | null;
  /** boolean on PostgreSQL, 0/1 on SQLite. */
  enabled: boolean | number;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface LedgerTable {
  id: string;
  request_id: string;
  key_id: string | null;
  model: string;
  prompt_tokens: number;
  cached_tokens: number;
  completion_tokens: number;
  reasoning_tokens: number;
  cost: number;
  status: string;
  http_status: number;
  stream: boolean | number;
  latency_ms: number;
  ttft_ms: number | null;
  created_at: number;
  /** The token counts are an estimate (an upstream that reported no usage). boolean on PostgreSQL, 0/1 on SQLite. */
  usage_estimated: boolean | number;
}

/** Stored Responses API responses: each row holds its whole conversation, so it continues even when earlier turns are gone. */
export interface ResponsesTable {
  id: string;
  /** The managed key that created it (null: the static or admin key); only it may read, continue or delete it. */
  key_id: string | null;
  model: string;
  created_at: number;
  /** Gone (unreadable, purged) from this time on; null: kept until deleted. */
  expires_at: number | null;
  /** JSON array: the items of the turns before this one, outputs included. */
  history: string;
  /** JSON array: this turn's input items. */
  input: string;
  /** JSON: the response object. */
  response: string;
}

export interface Database {
  api_keys: ApiKeysTable;
  ledger: LedgerTable;
  responses: ResponsesTable;
}

const migrations: Record<string, Migration> = {
  "0001_keys_and_ledger": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("api_keys")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("owner", "text")
        .addColumn("models", "text")
        .addColumn("secret_hash", "text", (c) => c.notNull().unique())
        .addColumn("prefix", "text", (c) => c.notNull())
        .addColumn("rpm", "bigint")
        .addColumn("tpm", "bigint")
        .addColumn("budget_unit", "text")
        .addColumn("budget_amount", "double precision")
        .addColumn("budget_period", "text")
        .addColumn("enabled", "boolean", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint")
        .addColumn("revoked_at", "bigint")
        .execute();

      await db.schema
        .createTable("ledger")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("request_id", "text", (c) => c.notNull())
        .addColumn("key_id", "text")
        .addColumn("model", "text", (c) => c.notNull())
        .addColumn("prompt_tokens", "bigint", (c) => c.notNull())
        .addColumn("cached_tokens", "bigint", (c) => c.notNull())
        .addColumn("completion_tokens", "bigint", (c) => c.notNull())
        .addColumn("reasoning_tokens", "bigint", (c) => c.notNull())
        .addColumn("cost", "double precision", (c) => c.notNull())
        .addColumn("status", "text", (c) => c.notNull())
        .addColumn("http_status", "integer", (c) => c.notNull())
        .addColumn("stream", "boolean", (c) => c.notNull())
        .addColumn("latency_ms", "bigint", (c) => c.notNull())
        .addColumn("ttft_ms", "bigint")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      // No foreign key to api_keys: keys are revoked, not deleted, and the
      // ledger must accept rows for keys defined elsewhere (e.g. config keys).
      await db.schema.createIndex("ledger_key_time").on("ledger").columns(["key_id", "created_at"]).execute();
      await db.schema.createIndex("ledger_time").on("ledger").column("created_at").execute();
      await db.schema.createIndex("ledger_model_time").on("ledger").columns(["model", "created_at"]).execute();
    },
  },
  "0002_ledger_usage_estimated": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .alterTable("ledger")
        .addColumn("usage_estimated", "boolean", (c) => c.notNull().defaultTo(false))
        .execute();
    },
  },
  "0003_responses": {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("responses")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("key_id", "text")
        .addColumn("model", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("expires_at", "bigint")
        .addColumn("history", "text", (c) => c.notNull())
        .addColumn("input", "text", (c) => c.notNull())
        .addColumn("response", "text", (c) => c.notNull())
        .execute();
      await db.schema.createIndex("responses_expiry").on("responses").column("expires_at").execute();
    },
  },
};

/** The migrations, in code (no files to ship or find at runtime). */
export const migrationProvider: MigrationProvider = {
  getMigrations: async () => migrations,
};
