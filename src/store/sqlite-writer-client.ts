/** The main thread's side of {@link ./sqlite-ledger-writer.ts}: batches of rows in, one promise per batch out. */
import type { Worker } from "node:worker_threads";
import { startWorker } from "../worker-thread.js";
import type { LedgerTable } from "./schema.js";
import type { WriteRequest, WriteResult, WriterData } from "./sqlite-ledger-writer.js";

export class SqliteWriterClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(data: WriterData) {
    this.worker = startWorker(import.meta.url, "sqlite-ledger-writer", data);
    this.worker.on("message", (result: WriteResult) => {
      const waiter = this.pending.get(result.id);
      this.pending.delete(result.id);
      // Only an idle writer may let the process exit.
      if (this.pending.size === 0) this.worker.unref();
      if (result.error === null) waiter?.resolve();
      else waiter?.reject(new Error(result.error));
    });
    const fail = (error: Error): void => {
      this.failure = error;
      for (const waiter of this.pending.values()) waiter.reject(error);
      this.pending.clear();
    };
    this.worker.on("error", fail);
    this.worker.on("exit", (code) => fail(new Error(`ledger writer exited (code ${code})`)));
    this.worker.unref();
  }

  /** Resolves once every row is committed (one transaction); rejects if any row fails. */
  write(rows: LedgerTable[]): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, rows } satisfies WriteRequest);
    });
  }

  async close(): Promise<void> {
    if (this.failure !== null) return;
    const exited = new Promise<void>((resolve) => this.worker.once("exit", () => resolve()));
    this.worker.ref();
    this.worker.postMessage("close");
    await exited;
  }
}
