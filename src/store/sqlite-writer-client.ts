/** The main thread's side of {@link ./sqlite-ledger-writer.ts}: batches of rows in, one promise per batch out. */
import { Worker } from "node:worker_threads";
import type { LedgerTable } from "./schema.js";
import type { WriteRequest, WriteResult, WriterData } from "./sqlite-ledger-writer.js";

export class SqliteWriterClient {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(): void; reject(error: Error): void }>();
  private nextId = 0;
  private failure: Error | null = null;

  constructor(data: WriterData) {
    // Built: ./sqlite-ledger-writer.js. Run from source (tests, through tsx): the
    // .ts next to this file, with tsx registered in the worker first.
    if (import.meta.url.endsWith(".ts")) {
      const entry = new URL("./sqlite-ledger-writer.ts", import.meta.url).href;
      const tsx = import.meta.resolve("tsx/esm/api");
      const boot = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
      this.worker = new Worker(boot, { eval: true, workerData: data });
    } else {
      this.worker = new Worker(new URL("./sqlite-ledger-writer.js", import.meta.url), { workerData: data });
    }
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
