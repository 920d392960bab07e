/**
 * A key for a JSON value by its content: the SHA-256 of its canonical JSON
 * (object keys sorted), so the same schema written with its keys in another
 * order finds the same cached grammar and validator.
 */
import { createHash } from "node:crypto";

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = canonical((value as Record<string, unknown>)[key]);
  return out;
}

export function contentKey(value: unknown): string {
  return createHash("sha256").update(JSON.stringify(canonical(value)) ?? "undefined").digest("hex");
}
