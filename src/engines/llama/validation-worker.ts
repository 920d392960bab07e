/**
 * A worker thread that compiles client schemas with Ajv and checks outputs
 * against them, so neither Ajv's code generation (hundreds of milliseconds
 * for the biggest real schemas) nor a validation runs on the server's event
 * loop. Validators are kept by content key, the most recently used
 * {@link validatorCapacity}.
 */
import { parentPort } from "node:worker_threads";
import { compileSchemaCheck, type SchemaCheck } from "./json-schema-validator.js";

export const validatorCapacity = 256;

export type ValidationRequest =
  | { id: number; op: "prepare"; key: string; schema: unknown }
  | { id: number; op: "check"; key: string | null; text: string };

export type ValidationReply =
  /** prepare: `error` when the schema cannot be compiled. */
  | { id: number; op: "prepare"; error: string | null }
  /** check: `problem` null when the text is JSON that validates; `missing` when the key was evicted. */
  | { id: number; op: "check"; problem: string | null; missing: boolean };

const checks = new Map<string, SchemaCheck>();

function remember(key: string, check: SchemaCheck): void {
  checks.delete(key);
  checks.set(key, check);
  if (checks.size > validatorCapacity) checks.delete(checks.keys().next().value as string);
}

/** `key` null: any JSON object (json_object mode). */
async function check(key: string | null, text: string): Promise<{ problem: string | null; missing: boolean }> {
  const schemaCheck = key === null ? null : checks.get(key);
  if (schemaCheck === undefined) return { problem: null, missing: true };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: "is not JSON", missing: false };
  }
  if (key === null || schemaCheck === null) {
    const isObject = typeof value === "object" && value !== null && !Array.isArray(value);
    return { problem: isObject ? null : "is not a JSON object", missing: false };
  }
  remember(key, schemaCheck);
  return { problem: await schemaCheck(value), missing: false };
}

async function handle(request: ValidationRequest): Promise<ValidationReply> {
  if (request.op === "check") return { id: request.id, op: "check", ...(await check(request.key, request.text)) };
  if (checks.has(request.key)) return { id: request.id, op: "prepare", error: null };
  try {
    remember(request.key, compileSchemaCheck(request.schema));
    return { id: request.id, op: "prepare", error: null };
  } catch (err) {
    return { id: request.id, op: "prepare", error: err instanceof Error ? err.message : String(err) };
  }
}

parentPort?.on("message", (request: ValidationRequest | "close") => {
  if (request === "close") {
    parentPort?.close();
    return;
  }
  void handle(request)
    .catch((err: unknown): ValidationReply => {
      const reason = err instanceof Error ? err.message : String(err);
      return request.op === "prepare" ? { id: request.id, op: "prepare", error: reason } : { id: request.id, op: "check", problem: `cannot be validated: ${reason}`, missing: false };
    })
    .then((reply) => parentPort?.postMessage(reply));
});
