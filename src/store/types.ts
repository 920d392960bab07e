/**
 * What the gateway stores: managed API keys and the request ledger. One
 * interface for both databases (SQLite embedded, PostgreSQL for replicas);
 * implementations live next to this file and share one migration set.
 */

export type BudgetPeriod = "daily" | "monthly" | "total";

export interface KeyBudget {
  /** `tokens`: prompt + completion tokens; `usd`: cost from the model prices. */
  unit: "tokens" | "usd";
  amount: number;
  period: BudgetPeriod;
}

export interface KeyLimits {
  /** Requests per minute; null = unlimited. */
  rpm: number | null;
  /** Tokens (prompt + completion) per minute; null = unlimited. */
  tpm: number | null;
  budget: KeyBudget | null;
}

/** A managed key as stored; the secret itself is never stored, only its hash. */
export interface KeyRecord extends KeyLimits {
  /** Public identifier, e.g. `key_…`; safe to log and show. */
  id: string;
  name: string;
  owner: string | null;
  /** Model ids this key may call; null = every model. */
  models: string[] | null;
  /** First characters of the secret (`sk-abc…`), for recognising it in lists. */
  prefix: string;
  enabled: boolean;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
}

export interface NewKey extends Partial<KeyLimits> {
  name: string;
  owner?: string | null;
  models?: string[] | null;
  expiresAt?: Date | null;
  enabled?: boolean;
}

/** Fields an admin may change after creation. */
export type KeyUpdate = Partial<Omit<NewKey, "name">> & { name?: string };

export interface CreatedKey {
  record: KeyRecord;
  /** `sk-…`: returned once, at creation, and never again. */
  secret: string;
}

export interface KeyStore {
  create(input: NewKey): Promise<CreatedKey>;
  list(): Promise<KeyRecord[]>;
  get(id: string): Promise<KeyRecord | null>;
  /** Looks a presented secret up by its hash; null when unknown. Revoked/expired keys are returned (the caller decides). */
  findBySecret(secret: string): Promise<KeyRecord | null>;
  update(id: string, change: KeyUpdate): Promise<KeyRecord | null>;
  /** Marks the key revoked (kept for the ledger); null when unknown. */
  revoke(id: string): Promise<KeyRecord | null>;
  /** How many keys exist (any state); the server requires keys once there is one. */
  count(): Promise<number>;
}

export type LedgerStatus = "ok" | "error" | "client_disconnected";

/** One row per request that reached a model, whatever its outcome. */
export interface LedgerRow {
  /** The completion id (`chatcmpl-…`), or `req_…` for a request that failed before it had one; made by the server, unique. */
  id: string;
  /** `x-request-id` of the HTTP request: the client's (a correlation id, not unique) or ours. */
  requestId: string;
  keyId: string | null;
  model: string;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  /** USD. */
  cost: number;
  status: LedgerStatus;
  /** HTTP status the client got (200 for a stream that later failed). */
  httpStatus: number;
  stream: boolean;
  /** ms from request arrival to the last byte / abort. */
  latencyMs: number;
  /** ms from request arrival to the first generated token; null when none. */
  ttftMs: number | null;
  createdAt: Date;
  /** The token counts are an estimate (an upstream that reported no usage), not a tokenizer's. */
  usageEstimated: boolean;
}

export type UsageGroup = "hour" | "day" | "model" | "key";

export interface UsageQuery {
  keyId?: string;
  model?: string;
  /** Inclusive. */
  from?: Date;
  /** Exclusive. */
  to?: Date;
  groupBy?: UsageGroup;
}

export interface UsageTotals {
  requests: number;
  promptTokens: number;
  cachedTokens: number;
  completionTokens: number;
  reasoningTokens: number;
  totalTokens: number;
  cost: number;
  /** Of `requests`, those whose token counts are an estimate. */
  estimatedRequests: number;
}

export interface UsageRow extends UsageTotals {
  /** The group's value: `YYYY-MM-DDTHH` / `YYYY-MM-DD` (UTC), a model id, or a key id (null for keyless requests); null when ungrouped. */
  group: string | null;
}

export interface Ledger {
  /** Resolves once the row is durable (committed). Rows written close together share one commit. */
  record(row: LedgerRow): Promise<void>;
  usage(query: UsageQuery): Promise<UsageRow[]>;
  /** Tokens and cost a key has spent since `from` (inclusive), for budgets. */
  spent(keyId: string, from: Date | null): Promise<{ tokens: number; cost: number }>;
}

/** A stored Responses API response and the conversation it ends. Items and the response are JSON values, stored as they are given. */
export interface StoredResponse {
  id: string;
  keyId: string | null;
  model: string;
  createdAt: Date;
  expiresAt: Date | null;
  /** The items of the turns before this one, their outputs included. */
  history: unknown[];
  /** This turn's input items. */
  input: unknown[];
  response: Record<string, unknown>;
}

export interface ResponseStore {
  save(response: StoredResponse): Promise<void>;
  /** The response if `keyId` created it and it has not expired; null otherwise (so another key cannot tell it exists). */
  get(id: string, keyId: string | null, now?: Date): Promise<StoredResponse | null>;
  /** Deletes it if `keyId` created it; false when there was nothing to delete. */
  delete(id: string, keyId: string | null): Promise<boolean>;
  /** Deletes the expired rows; how many. */
  purgeExpired(now?: Date): Promise<number>;
}

export interface Store {
  readonly dialect: "sqlite" | "postgres";
  readonly keys: KeyStore;
  readonly ledger: Ledger;
  readonly responses: ResponseStore;
  /** Resolves when the database answers; rejects (StorageUnavailableError on PostgreSQL) when it cannot be reached. */
  ping(): Promise<void>;
  /** Flushes pending ledger writes and closes the connection. */
  close(): Promise<void>;
}
