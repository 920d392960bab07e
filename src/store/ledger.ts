/**
 * The request ledger in SQL, with group commit: `record()` queues a row and
 * one flusher writes everything queued in one transaction, resolving each
 * row's promise only after that commit. Rows that arrive while a commit is in
 * flight go into the next one, so load raises the batch size instead of the
 * number of commits.
 *
 * A row not committed within {@link LEDGER_DEADLINE_MS} is given up with
 * StorageUnavailableError (the request fails with 503 instead of hanging on a
 * database that does not answer): taken out of the queue if its commit has
 * not started, so the client's error and the ledger agree; a commit already
 * on the wire may still land.
 */
import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import { StorageUnavailableError } from "../protocol/errors.js";
import type { Database, LedgerTable } from "./schema.js";
import type { SqliteWriterClient } from "./sqlite-writer-client.js";
import type { Ledger, LedgerRow, UsageGroup, UsageQuery, UsageRow } from "./types.js";

interface Pending {
  row: LedgerTable;
  resolve(): void;
  reject(error: unknown): void;
}

/** How long `record()` may take before the row is given up. */
export const LEDGER_DEADLINE_MS = 5_000;

/** Rows per transaction; anything beyond waits for the next commit. */
const MAX_BATCH = 1000;
/** Rows per INSERT statement: 16 parameters each stays under SQLite's and PostgreSQL's bind limits. */
const ROWS_PER_INSERT = 500;

export class SqlLedger implements Ledger {
  #queue: Pending[] = [];
  #flushing: Promise<void> | null = null;
  #closed = false;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: "sqlite" | "postgres",
    private readonly bool: (value: boolean) => boolean | number,
    /** SQLite: a worker thread that does the writes (and their fsyncs) off the event loop. */
    private readonly writer: SqliteWriterClient | null = null,
  ) {}

  record(row: LedgerRow): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("ledger is closed"));
    return new Promise<void>((resolve, reject) => {
      const pending: Pending = {
        row: this.#toTable(row),
        resolve: () => {
          clearTimeout(deadline);
          resolve();
        },
        reject: (error) => {
          clearTimeout(deadline);
          reject(error);
        },
      };
      const deadline = setTimeout(() => {
        const queued = this.#queue.indexOf(pending);
        if (queued >= 0) this.#queue.splice(queued, 1);
        reject(new StorageUnavailableError("database", `ledger row not committed within ${LEDGER_DEADLINE_MS} ms${queued >= 0 ? "" : " (its commit is still in flight)"}`));
      }, LEDGER_DEADLINE_MS);
      this.#queue.push(pending);
      this.#kick();
    });
  }

  #kick(): void {
    if (this.#flushing || this.#queue.length === 0) return;
    // Re-kick when the drain ends: a row queued after its last look at the
    // queue but before this callback ran would otherwise wait forever.
    this.#flushing = this.#drain().finally(() => {
      this.#flushing = null;
      this.#kick();
    });
  }

  /** Stops accepting rows and waits until everything queued is written. */
  async close(): Promise<void> {
    this.#closed = true;
    while (this.#flushing) await this.#flushing;
    await this.writer?.close();
  }

  async #drain(): Promise<void> {
    // Let the rest of this event-loop turn queue its rows before the first commit.
    await new Promise<void>((resolve) => setImmediate(resolve));
    while (this.#queue.length > 0) await this.#writeBatch(this.#queue.splice(0, MAX_BATCH));
  }

  /** Never throws: every pending promise is settled here. */
  async #writeBatch(batch: Pending[]): Promise<void> {
    try {
      await this.#commit(batch);
      for (const p of batch) p.resolve();
      return;
    } catch (error) {
      // One row, or the database is unreachable: retrying row by row would only fail slower.
      if (batch.length === 1 || error instanceof StorageUnavailableError) {
        for (const p of batch) p.reject(error);
        return;
      }
    }
    // The batch failed as a whole (e.g. one duplicate id): retry row by row so
    // only the bad rows fail.
    for (const p of batch) {
      try {
        await this.#commit([p]);
        p.resolve();
      } catch (error) {
        p.reject(error);
      }
    }
  }

  /** One transaction for the whole batch. */
  async #commit(batch: Pending[]): Promise<void> {
    if (this.writer !== null) return this.writer.write(batch.map((p) => p.row));
    await this.db.transaction().execute((trx) => this.#insert(trx, batch));
  }

  async #insert(trx: Transaction<Database>, batch: Pending[]): Promise<void> {
    for (let i = 0; i < batch.length; i += ROWS_PER_INSERT) {
      const values = batch.slice(i, i + ROWS_PER_INSERT).map((p) => p.row);
      await trx.insertInto("ledger").values(values).execute();
    }
  }

  #toTable(row: LedgerRow): LedgerTable {
    return {
      id: row.id,
      request_id: row.requestId,
      key_id: row.keyId,
      model: row.model,
      prompt_tokens: row.promptTokens,
      cached_tokens: row.cachedTokens,
      completion_tokens: row.completionTokens,
      reasoning_tokens: row.reasoningTokens,
      cost: row.cost,
      status: row.status,
      http_status: row.httpStatus,
      stream: this.bool(row.stream),
      latency_ms: Math.round(row.latencyMs),
      ttft_ms: row.ttftMs == null ? null : Math.round(row.ttftMs),
      created_at: row.createdAt.getTime(),
      usage_estimated: this.bool(row.usageEstimated),
    };
  }

  async usage(query: UsageQuery): Promise<UsageRow[]> {
    let q = this.db.selectFrom("ledger");
    if (query.keyId !== undefined) q = q.where("key_id", "=", query.keyId);
    if (query.model !== undefined) q = q.where("model", "=", query.model);
    if (query.from !== undefined) q = q.where("created_at", ">=", query.from.getTime());
    if (query.to !== undefined) q = q.where("created_at", "<", query.to.getTime());

    // Sums are cast so PostgreSQL returns int8/float8 (numbers through this
    // pool's parsers) instead of numeric strings; coalesce gives zero totals
    // for an empty ungrouped result.
    const totals = q.select([
      sql<number>`cast(count(*) as bigint)`.as("requests"),
      sql<number>`cast(coalesce(sum(prompt_tokens), 0) as bigint)`.as("promptTokens"),
      sql<number>`cast(coalesce(sum(cached_tokens), 0) as bigint)`.as("cachedTokens"),
      sql<number>`cast(coalesce(sum(completion_tokens), 0) as bigint)`.as("completionTokens"),
      sql<number>`cast(coalesce(sum(reasoning_tokens), 0) as bigint)`.as("reasoningTokens"),
      sql<number>`cast(coalesce(sum(cost), 0) as double precision)`.as("cost"),
      sql<number>`cast(coalesce(sum(case when usage_estimated then 1 else 0 end), 0) as bigint)`.as("estimatedRequests"),
    ]);
    const group = query.groupBy ? this.#groupExpression(query.groupBy) : null;
    const rows = group ? await totals.select(group.as("group")).groupBy(group).execute() : await totals.select(sql<null>`null`.as("group")).execute();

    return rows
      .map((r) => {
        const promptTokens = Number(r.promptTokens);
        const completionTokens = Number(r.completionTokens);
        return {
          group: r.group == null ? null : String(r.group),
          requests: Number(r.requests),
          promptTokens,
          cachedTokens: Number(r.cachedTokens),
          completionTokens,
          reasoningTokens: Number(r.reasoningTokens),
          totalTokens: promptTokens + completionTokens,
          cost: Number(r.cost),
          estimatedRequests: Number(r.estimatedRequests),
        };
      })
      .sort((a, b) => compareGroups(a.group, b.group));
  }

  async spent(keyId: string, from: Date | null): Promise<{ tokens: number; cost: number }> {
    let q = this.db.selectFrom("ledger").where("key_id", "=", keyId);
    if (from) q = q.where("created_at", ">=", from.getTime());
    const r = await q
      .select([
        sql<number>`cast(coalesce(sum(prompt_tokens + completion_tokens), 0) as bigint)`.as("tokens"),
        sql<number>`cast(coalesce(sum(cost), 0) as double precision)`.as("cost"),
      ])
      .executeTakeFirstOrThrow();
    return { tokens: Number(r.tokens), cost: Number(r.cost) };
  }

  #groupExpression(by: UsageGroup): RawBuilder<string | null> {
    switch (by) {
      case "model":
        return sql<string>`model`;
      case "key":
        return sql<string | null>`key_id`;
      case "day":
        // UTC calendar day of an epoch-ms integer, per dialect.
        return this.dialect === "postgres"
          ? sql<string>`to_char(to_timestamp(created_at / 1000) at time zone 'UTC', 'YYYY-MM-DD')`
          : sql<string>`strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')`;
      case "hour":
        return this.dialect === "postgres"
          ? sql<string>`to_char(to_timestamp(created_at / 1000) at time zone 'UTC', 'YYYY-MM-DD"T"HH24')`
          : sql<string>`strftime('%Y-%m-%dT%H', created_at / 1000, 'unixepoch')`;
    }
  }
}

/**
 * Sorted in JS, not SQL, so both dialects agree: plain code-unit order
 * (PostgreSQL would use its locale collation), keyless (null) last.
 */
function compareGroups(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
