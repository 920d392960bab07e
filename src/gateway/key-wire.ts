/**
 * Managed keys and usage on the wire (admin API, `chatport keys --json`):
 * snake_case JSON, times as Unix seconds, and the zod schemas that validate
 * what an admin sends.
 */
import { z } from "zod";
import type { KeyRecord, KeyUpdate, NewKey, UsageRow } from "../store/types.js";

const limit = z.number().int().positive().nullable();

/** C0 controls (NUL included), DEL and C1 controls. */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || (code >= 0x7f && code <= 0x9f)) return true;
  }
  return false;
}

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Why `value` may not be stored as text an admin gave (a name, an owner, a
 * model id, a key id), or null when it may. PostgreSQL refuses NUL outright,
 * SQLite would keep it, lone surrogates would be silently replaced, and
 * control characters garble the CLI's tables and terminals: every store
 * refuses the same strings, before they reach it.
 */
export function storedTextProblem(value: string): string | null {
  if (hasControlCharacter(value)) return "must not contain NUL or other control characters";
  if (loneSurrogate.test(value)) return "must be well-formed Unicode (it contains a lone surrogate)";
  return null;
}

/** Holds a zod string to {@link storedTextProblem} (after any trimming before it). */
export function checkStoredText(value: string, ctx: z.RefinementCtx): void {
  const problem = storedTextProblem(value);
  if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
}

const budgetSchema = z
  .object({
    unit: z.enum(["tokens", "usd"]),
    amount: z.number().positive().finite(),
    period: z.enum(["daily", "monthly", "total"]),
  })
  .strict();

/** Unix seconds or an ISO date; null clears. */
const timeSchema = z.union([z.number().int().positive(), z.iso.datetime({ offset: true }), z.iso.date()]).nullable();

const keyFields = {
  name: z.string().trim().min(1).max(200).superRefine(checkStoredText),
  owner: z.string().trim().min(1).max(200).superRefine(checkStoredText).nullable(),
  models: z.array(z.string().min(1).superRefine(checkStoredText)).min(1).nullable(),
  expires_at: timeSchema,
  rpm: limit,
  tpm: limit,
  budget: budgetSchema.nullable(),
  enabled: z.boolean(),
};

export const createKeySchema = z
  .object(keyFields)
  .partial()
  .required({ name: true })
  .strict();

export const updateKeySchema = z.object(keyFields).partial().strict();

type KeyBody = z.infer<typeof updateKeySchema>;

function toDate(value: number | string | null | undefined): Date | null | undefined {
  if (value === undefined || value === null) return value;
  return typeof value === "number" ? new Date(value * 1000) : new Date(value);
}

function fromBody(body: KeyBody): KeyUpdate {
  const out: KeyUpdate = {};
  if (body.name !== undefined) out.name = body.name;
  if (body.owner !== undefined) out.owner = body.owner;
  if (body.models !== undefined) out.models = body.models;
  if (body.expires_at !== undefined) out.expiresAt = toDate(body.expires_at) ?? null;
  if (body.rpm !== undefined) out.rpm = body.rpm;
  if (body.tpm !== undefined) out.tpm = body.tpm;
  if (body.budget !== undefined) out.budget = body.budget;
  if (body.enabled !== undefined) out.enabled = body.enabled;
  return out;
}

export function newKeyFromBody(body: z.infer<typeof createKeySchema>): NewKey {
  return { ...fromBody(body), name: body.name };
}

export const keyUpdateFromBody = (body: KeyBody): KeyUpdate => fromBody(body);

const seconds = (d: Date | null): number | null => (d === null ? null : Math.floor(d.getTime() / 1000));

export type KeyState = "active" | "revoked" | "expired" | "disabled";

export function keyState(key: KeyRecord, now = Date.now()): KeyState {
  if (key.revokedAt !== null) return "revoked";
  if (key.expiresAt !== null && key.expiresAt.getTime() <= now) return "expired";
  return key.enabled ? "active" : "disabled";
}

export function keyToWire(key: KeyRecord): Record<string, unknown> {
  return {
    id: key.id,
    object: "api_key",
    name: key.name,
    owner: key.owner,
    prefix: key.prefix,
    models: key.models,
    rpm: key.rpm,
    tpm: key.tpm,
    budget: key.budget,
    enabled: key.enabled,
    status: keyState(key),
    created_at: seconds(key.createdAt),
    expires_at: seconds(key.expiresAt),
    revoked_at: seconds(key.revokedAt),
  };
}

export function usageToWire(row: UsageRow): Record<string, unknown> {
  return {
    group: row.group,
    requests: row.requests,
    prompt_tokens: row.promptTokens,
    cached_tokens: row.cachedTokens,
    completion_tokens: row.completionTokens,
    reasoning_tokens: row.reasoningTokens,
    total_tokens: row.totalTokens,
    cost_usd: row.cost,
    estimated_requests: row.estimatedRequests,
  };
}
