/**
 * Managed API keys in SQL (SQLite or PostgreSQL through kysely). Secrets are
 * `sk-` + 32 random bytes (base64url); only their sha256 is stored, and a
 * presented secret is found through that hash's unique index.
 */
import crypto from "node:crypto";
import { sql, type Kysely, type Selectable, type Updateable } from "kysely";
import type { ApiKeysTable, Database } from "./schema.js";
import type { BudgetPeriod, CreatedKey, KeyBudget, KeyRecord, KeyStore, KeyUpdate, NewKey } from "./types.js";

/** Characters of the secret kept as `prefix` (`sk-` + 5), enough to recognise a key, far too few to guess it. */
const PREFIX_LENGTH = 8;
const BUDGET_UNITS: ReadonlySet<string> = new Set<KeyBudget["unit"]>(["tokens", "usd"]);
const BUDGET_PERIODS: ReadonlySet<string> = new Set<BudgetPeriod>(["daily", "monthly", "total"]);

export const hashSecret = (secret: string): string => crypto.createHash("sha256").update(secret, "utf8").digest("hex");

export class SqlKeyStore implements KeyStore {
  constructor(
    private readonly db: Kysely<Database>,
    /** SQLite binds booleans as 0/1 (better-sqlite3 refuses JS booleans). */
    private readonly bool: (value: boolean) => boolean | number,
  ) {}

  async create(input: NewKey): Promise<CreatedKey> {
    validate(input);
    if (!nonEmpty(input.name)) throw new Error("key name must not be empty");
    const secret = `sk-${crypto.randomBytes(32).toString("base64url")}`;
    const row: ApiKeysTable = {
      id: `key_${crypto.randomBytes(12).toString("base64url")}`,
      name: input.name.trim(),
      owner: input.owner ?? null,
      models: input.models ? JSON.stringify(input.models) : null,
      secret_hash: hashSecret(secret),
      prefix: secret.slice(0, PREFIX_LENGTH),
      rpm: input.rpm ?? null,
      tpm: input.tpm ?? null,
      budget_unit: input.budget?.unit ?? null,
      budget_amount: input.budget?.amount ?? null,
      budget_period: input.budget?.period ?? null,
      enabled: this.bool(input.enabled ?? true),
      created_at: Date.now(),
      expires_at: input.expiresAt ? input.expiresAt.getTime() : null,
      revoked_at: null,
    };
    await this.db.insertInto("api_keys").values(row).execute();
    return { record: toRecord(row), secret };
  }

  async list(): Promise<KeyRecord[]> {
    const rows = await this.db.selectFrom("api_keys").selectAll().orderBy("created_at").orderBy("id").execute();
    return rows.map(toRecord);
  }

  async get(id: string): Promise<KeyRecord | null> {
    const row = await this.db.selectFrom("api_keys").selectAll().where("id", "=", id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async findBySecret(secret: string): Promise<KeyRecord | null> {
    const hash = hashSecret(secret);
    const row = await this.db.selectFrom("api_keys").selectAll().where("secret_hash", "=", hash).executeTakeFirst();
    // The index lookup already matched; the constant-time compare is belt and braces
    // against a database whose text comparison is not exact (collations, padding).
    if (!row || row.secret_hash.length !== hash.length) return null;
    return crypto.timingSafeEqual(Buffer.from(row.secret_hash, "hex"), Buffer.from(hash, "hex")) ? toRecord(row) : null;
  }

  async update(id: string, change: KeyUpdate): Promise<KeyRecord | null> {
    validate(change);
    if (change.name !== undefined && !nonEmpty(change.name)) throw new Error("key name must not be empty");
    // undefined = leave as is; null = clear.
    const patch: Updateable<ApiKeysTable> = {};
    if (change.name !== undefined) patch.name = change.name.trim();
    if (change.owner !== undefined) patch.owner = change.owner;
    if (change.models !== undefined) patch.models = change.models ? JSON.stringify(change.models) : null;
    if (change.rpm !== undefined) patch.rpm = change.rpm;
    if (change.tpm !== undefined) patch.tpm = change.tpm;
    if (change.budget !== undefined) {
      patch.budget_unit = change.budget?.unit ?? null;
      patch.budget_amount = change.budget?.amount ?? null;
      patch.budget_period = change.budget?.period ?? null;
    }
    if (change.enabled !== undefined) patch.enabled = this.bool(change.enabled);
    if (change.expiresAt !== undefined) patch.expires_at = change.expiresAt ? change.expiresAt.getTime() : null;
    if (Object.keys(patch).length > 0) await this.db.updateTable("api_keys").set(patch).where("id", "=", id).execute();
    return this.get(id);
  }

  async revoke(id: string): Promise<KeyRecord | null> {
    // Keeps the first revocation time when revoked twice.
    await this.db.updateTable("api_keys").set({ revoked_at: Date.now() }).where("id", "=", id).where("revoked_at", "is", null).execute();
    return this.get(id);
  }

  async count(): Promise<number> {
    const { n } = await this.db
      .selectFrom("api_keys")
      .select(sql<number | string>`count(*)`.as("n"))
      .executeTakeFirstOrThrow();
    return Number(n);
  }
}

function nonEmpty(value: unknown): value is string {
  return typeof value === "string" && value.trim().length > 0;
}

/** Rejects values no caller should pass; HTTP-level validation lives elsewhere. */
function validate(input: KeyUpdate): void {
  for (const field of ["rpm", "tpm"] as const) {
    const value = input[field];
    if (value != null && !(Number.isSafeInteger(value) && value >= 0)) throw new Error(`${field} must be a non-negative integer or null`);
  }
  const budget = input.budget;
  if (budget != null) {
    if (!BUDGET_UNITS.has(budget.unit)) throw new Error(`budget unit must be tokens or usd`);
    if (!BUDGET_PERIODS.has(budget.period)) throw new Error(`budget period must be daily, monthly or total`);
    if (!(Number.isFinite(budget.amount) && budget.amount >= 0)) throw new Error("budget amount must be a non-negative number");
  }
  if (input.models != null && !(Array.isArray(input.models) && input.models.every(nonEmpty))) {
    throw new Error("models must be a list of model ids or null");
  }
  if (input.expiresAt != null && !(input.expiresAt instanceof Date && Number.isFinite(input.expiresAt.getTime()))) {
    throw new Error("expiresAt must be a valid Date or null");
  }
}

const toDate = (ms: number | null): Date | null => (ms == null ? null : new Date(Number(ms)));

function toRecord(row: Selectable<ApiKeysTable>): KeyRecord {
  const budget: KeyBudget | null =
    row.budget_unit != null && row.budget_amount != null && row.budget_period != null
      ? { unit: row.budget_unit as KeyBudget["unit"], amount: Number(row.budget_amount), period: row.budget_period as BudgetPeriod }
      : null;
  return {
    id: row.id,
    name: row.name,
    owner: row.owner,
    models: row.models == null ? null : (JSON.parse(row.models) as string[]),
    prefix: row.prefix,
    rpm: row.rpm == null ? null : Number(row.rpm),
    tpm: row.tpm == null ? null : Number(row.tpm),
    budget,
    enabled: Boolean(row.enabled),
    createdAt: new Date(Number(row.created_at)),
    expiresAt: toDate(row.expires_at),
    revokedAt: toDate(row.revoked_at),
  };
}
