/**
 * A worker thread that owns the ledger's writes to the SQLite file: each batch
 * is one transaction through a prepared INSERT, so commit fsyncs and WAL
 * checkpoints happen here and never block the server's event loop. The main
 * thread keeps its own connection for reads and for keys.
 */
import { parentPort, workerData } from "node:worker_threads";
import Database from "better-sqlite3";
import type { LedgerTable } from "./schema.js";

export interface WriterData {
  file: string;
  sync: "full" | "normal";
}

export interface WriteRequest {
  id: number;
  rows: LedgerTable[];
}

export interface WriteResult {
  id: number;
  error: string | null;
}

/** Every column of the table, once: a column added to LedgerTable but not here does not compile. */
const columnSet: Record<keyof LedgerTable, true> = {
  id: true,
  request_id: true,
  key_id: true,
  model: true,
  prompt_tokens: true,
  cached_tokens: true,
  completion_tokens: true,
  reasoning_tokens: true,
  cost: true,
  status: true,
  http_status: true,
  stream: true,
  latency_ms: true,
  ttft_ms: true,
  created_at: true,
  usage_estimated: true,
};
const columns = Object.keys(columnSet);

if (parentPort !== null) {
  const port = parentPort;
  const { file, sync } = workerData as WriterData;
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma(`synchronous = ${sync === "normal" ? "NORMAL" : "FULL"}`);
  db.pragma("busy_timeout = 5000");
  const insert = db.prepare(`insert into ledger (${columns.join(", ")}) values (${columns.map((c) => `@${c}`).join(", ")})`);
  const writeAll = db.transaction((rows: LedgerTable[]) => {
    for (const row of rows) insert.run(row);
  });
  port.on("message", (request: WriteRequest | "close") => {
    if (request === "close") {
      db.close();
      port.close();
      return;
    }
    let error: string | null = null;
    try {
      writeAll(request.rows);
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    port.postMessage({ id: request.id, error } satisfies WriteResult);
  });
}
