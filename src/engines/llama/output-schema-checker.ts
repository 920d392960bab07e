/**
 * The main thread's side of {@link ./validation-worker.ts}: prepares a
 * client's schema (compiled once per content key) and checks an output's
 * JSON text against it, without Ajv ever running on the event loop.
 */
import type { Worker } from "node:worker_threads";
import { startWorker } from "../../worker-thread.js";
import { contentKey } from "./content-key.js";
import { validatorCapacity, type ValidationReply, type ValidationRequest } from "./validation-worker.js";

/** A schema the worker has compiled (or will compile again from `schema` if it evicted it). */
export interface PreparedSchema {
  key: string;
  schema: unknown;
}

/** Ajv could not compile the schema: the client's schema, not our bug. */
export class SchemaNotCheckable extends Error {}

type Distribute<T> = T extends unknown ? Omit<T, "id"> : never;

export class OutputSchemaChecker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve(reply: ValidationReply): void; reject(error: Error): void }>();
  private nextId = 0;
  /** Keys the worker compiled recently (a hint: a key it has evicted since is compiled again). */
  private readonly prepared = new Set<string>();

  /** Compiles `schema` on the worker; throws {@link SchemaNotCheckable} with Ajv's reason. */
  async prepare(schema: unknown, key = contentKey(schema)): Promise<PreparedSchema> {
    if (!this.prepared.has(key)) await this.compile(key, schema);
    return { key, schema };
  }

  /**
   * Why `text` fails: not JSON, not valid against `schema` (where, which
   * keyword) or, with `schema` null, not a JSON object; null when it passes.
   */
  async check(schema: PreparedSchema | null, text: string): Promise<string | null> {
    const reply = await this.send({ op: "check", key: schema?.key ?? null, text });
    if (reply.op !== "check") throw new Error("validation worker answered out of order");
    if (!reply.missing || schema === null) return reply.problem;
    this.prepared.delete(schema.key);
    await this.compile(schema.key, schema.schema);
    return this.check(schema, text);
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = null;
    if (worker !== null) await worker.terminate();
  }

  private async compile(key: string, schema: unknown): Promise<void> {
    const reply = await this.send({ op: "prepare", key, schema });
    if (reply.op === "prepare" && reply.error !== null) throw new SchemaNotCheckable(reply.error);
    this.prepared.add(key);
    if (this.prepared.size > validatorCapacity) this.prepared.delete(this.prepared.values().next().value as string);
  }

  private send(request: Distribute<ValidationRequest>): Promise<ValidationReply> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.pending.size === 0) worker.ref();
      this.pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id } as ValidationRequest);
    });
  }

  /** The worker, started on first use and again after a crash. */
  private start(): Worker {
    if (this.worker !== null) return this.worker;
    const worker = startWorker(import.meta.url, "validation-worker", null);
    worker.on("message", (reply: ValidationReply) => {
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      waiter?.resolve(reply);
    });
    const fail = (error: Error): void => {
      if (this.worker === worker) this.worker = null;
      this.prepared.clear();
      const waiting = [...this.pending.values()];
      this.pending.clear();
      // The next request starts a fresh worker.
      for (const waiter of waiting) waiter.reject(new Error(`validation worker failed: ${error.message}`));
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`exited with code ${code}`)));
    worker.unref();
    this.worker = worker;
    return worker;
  }
}
