/**
 * Who is calling and may they: API-key authentication, model permissions,
 * RPM/TPM windows and budgets. Counters live in {@link Counters} (in process
 * or Redis), keys and spend in the {@link Store}; this class only decides.
 *
 * Keys are cached for at most `cacheMs` (and dropped at once when any replica
 * publishes a change), so a revocation takes effect within a second
 * everywhere even without Redis.
 */
import { createHash } from "node:crypto";
import type { ModelPrices } from "../config.js";
import { budgetPeriodKey, periodStart, periodTtlSeconds } from "../limits/periods.js";
import type { Counters, WindowDecision } from "../limits/types.js";
import {
  insufficientQuota,
  invalidApiKey,
  missingApiKey,
  modelNotPermitted,
  rateLimited,
  unusableApiKey,
} from "../protocol/errors.js";
import type { KeyRecord, KeyStore, Ledger } from "../store/types.js";
import { outputTokenPrice } from "./pricing.js";
import { bearerToken, secretMatcher } from "./secrets.js";

/** The authenticated caller: a managed key, or null for the static key / an open server. */
export interface Caller {
  key: KeyRecord | null;
}

export interface AdmitRequest {
  model: string;
  /** The served model `model` names (an alias's target). */
  canonical: string;
  /** Choices requested. */
  n: number;
  /** Completion tokens per choice the client asked for (null: up to the context). */
  maxTokens: number | null;
  contextLength: number;
  prices: ModelPrices | undefined;
}

export interface SettledUsage {
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

/** A request let through: headers to send, the completion cap a budget imposes, and how to settle. */
export interface Admission {
  headers: Record<string, string>;
  /** Completion tokens per choice the budget allows (null: no budget cap). */
  maxTokens: number | null;
  /** Books what the request used against the key's windows and budget; releases its reservation. */
  settle(usage: SettledUsage): Promise<void>;
}

export interface GatekeeperOptions {
  keys: KeyStore;
  ledger: Ledger;
  counters: Counters;
  staticKey: string | null;
  adminKey: string | null;
  /** How long a looked-up key is trusted without asking the store again. */
  cacheMs?: number;
  now?: () => number;
}

const WINDOW_MS = 60_000;

/** OpenAI's duration style for x-ratelimit-reset-*: `20ms`, `1.5s`, `6m0s`. */
export function formatResetDuration(ms: number): string {
  const clamped = Math.max(0, Math.ceil(ms));
  if (clamped < 1000) return `${clamped}ms`;
  const seconds = clamped / 1000;
  if (seconds < 60) return `${Number(seconds.toFixed(3))}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${Number((seconds - minutes * 60).toFixed(3))}s`;
}

const retryAfterSeconds = (ms: number): string => String(Math.max(1, Math.ceil(ms / 1000)));

const hashSecret = (secret: string): string => createHash("sha256").update(secret).digest("hex");

const noLimits: Admission = { headers: {}, maxTokens: null, settle: async () => {} };

export class Gatekeeper {
  private readonly keys: KeyStore;
  private readonly ledger: Ledger;
  private readonly counters: Counters;
  private readonly isStaticKey: ((presented: string | null) => boolean) | null;
  private readonly adminConfigured: boolean;
  private readonly isAdminKey: ((presented: string | null) => boolean) | null;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, { record: KeyRecord; at: number }>();
  private keyCount: { value: number; at: number } | null = null;

  constructor(options: GatekeeperOptions) {
    this.keys = options.keys;
    this.ledger = options.ledger;
    this.counters = options.counters;
    this.isStaticKey = options.staticKey === null ? null : secretMatcher(options.staticKey);
    this.adminConfigured = options.adminKey !== null;
    this.isAdminKey = options.adminKey === null ? null : secretMatcher(options.adminKey);
    this.cacheMs = options.cacheMs ?? 500;
    this.now = options.now ?? Date.now;
    this.counters.onKeyChange((keyId) => this.forget(keyId));
  }

  /** Drops cached copies of a key (after a local or remote change). */
  forget(keyId: string): void {
    for (const [hash, entry] of this.cache) if (entry.record.id === keyId) this.cache.delete(hash);
    this.keyCount = null;
  }

  /** Tells every replica (and this one) that a key changed. */
  async keyChanged(keyId: string): Promise<void> {
    this.forget(keyId);
    await this.counters.publishKeyChange(keyId);
  }

  /**
   * Keys are required once a static key or an admin key is configured or any
   * managed key exists; a server with none of them is open (local use).
   */
  private async authRequired(): Promise<boolean> {
    if (this.isStaticKey !== null || this.adminConfigured) return true;
    const now = this.now();
    if (this.keyCount === null || now - this.keyCount.at > this.cacheMs) this.keyCount = { value: await this.keys.count(), at: now };
    return this.keyCount.value > 0;
  }

  private async lookup(secret: string): Promise<KeyRecord | null> {
    const hash = hashSecret(secret);
    const now = this.now();
    const cached = this.cache.get(hash);
    if (cached !== undefined && now - cached.at <= this.cacheMs) return cached.record;
    const record = await this.keys.findBySecret(secret);
    if (record === null) {
      this.cache.delete(hash);
      return null;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(hash, { record, at: now });
    return record;
  }

  async authenticate(authorization: string | undefined): Promise<Caller> {
    const presented = bearerToken(authorization);
    // The static key and the admin key (the dashboard's playground) are unlimited and keyless in the ledger.
    if (this.isStaticKey?.(presented) === true || this.isAdminKey?.(presented) === true) return { key: null };
    if (!(await this.authRequired())) return { key: null };
    if (presented === null) throw missingApiKey();
    const record = await this.lookup(presented);
    if (record === null) throw invalidApiKey();
    if (record.revokedAt !== null) throw unusableApiKey("revoked");
    if (!record.enabled) throw unusableApiKey("disabled");
    if (record.expiresAt !== null && record.expiresAt.getTime() <= this.now()) throw unusableApiKey("expired");
    return { key: record };
  }

  /** May this caller use this model? A key listing an alias or the model it names may use either. (Also filters /v1/models.) */
  mayUse(caller: Caller, model: string, canonical: string = model): boolean {
    const allowed = caller.key?.models;
    return allowed == null || allowed.includes(model) || allowed.includes(canonical);
  }

  /**
   * Checks the key's model list, token window, budget and request window, in
   * that order (the request window is the only one that counts on a check, so
   * a request refused for tokens or budget does not use up a request).
   */
  async admit(caller: Caller, request: AdmitRequest): Promise<Admission> {
    const key = caller.key;
    if (key === null) return noLimits;
    if (!this.mayUse(caller, request.model, request.canonical)) throw modelNotPermitted(request.model);
    const now = this.now();
    const headers: Record<string, string> = {};

    if (key.tpm !== null) {
      const tokens = await this.counters.checkTokens(key.id, key.tpm, now);
      Object.assign(headers, windowHeaders("tokens", tokens));
      if (!tokens.allowed) throw rateLimited("tokens", key.tpm, { ...headers, "retry-after": retryAfterSeconds(tokens.resetMs) });
    }

    const budget = key.budget === null ? null : await this.budgetRoom(key, request, now);

    if (key.rpm !== null) {
      const requests = await this.counters.takeRequest(key.id, key.rpm, now);
      Object.assign(headers, windowHeaders("requests", requests));
      if (!requests.allowed) {
        await budget?.release();
        throw rateLimited("requests", key.rpm, { ...headers, "retry-after": retryAfterSeconds(requests.resetMs) });
      }
    }

    let settled = false;
    return {
      headers,
      maxTokens: budget?.maxTokens ?? null,
      settle: async (usage) => {
        if (settled) return;
        settled = true;
        const tasks: Array<Promise<void>> = [];
        if (key.tpm !== null) tasks.push(this.counters.addTokens(key.id, usage.promptTokens + usage.completionTokens, this.now()));
        if (budget !== null) tasks.push(budget.settle(usage));
        await Promise.all(tasks);
      },
    };
  }

  /**
   * Reserves room in the key's budget for this request. The cap on completion
   * tokens is what is left after what was spent and what other requests in
   * flight have reserved, so concurrent requests cannot overshoot together;
   * the prompt is booked when it is known, after the request.
   */
  private async budgetRoom(
    key: KeyRecord,
    request: AdmitRequest,
    now: number,
  ): Promise<{ maxTokens: number | null; release(): Promise<void>; settle(usage: SettledUsage): Promise<void> }> {
    const budget = key.budget;
    if (budget === null) throw new Error("budgetRoom without a budget");
    const date = new Date(now);
    const period = budgetPeriodKey(budget.period, date);
    const resetHeaders = (): Record<string, string> => {
      const ttl = periodTtlSeconds(budget.period, date);
      return ttl === null ? {} : { "retry-after": String(Math.max(1, Math.ceil(ttl))) };
    };

    let spent = await this.counters.getSpent(key.id, period);
    if (spent === null) {
      const fromLedger = await this.ledger.spent(key.id, periodStart(budget.period, date));
      await this.counters.initSpent(key.id, period, budget.unit === "tokens" ? fromLedger.tokens : fromLedger.cost, periodTtlSeconds(budget.period, date));
      spent = (await this.counters.getSpent(key.id, period)) ?? 0;
    }
    const left = budget.amount - spent;
    const unitLabel = budget.unit === "tokens" ? "tokens" : "USD";
    if (left <= 0) {
      throw insufficientQuota(
        `This API key has used its ${budget.period} budget of ${budget.amount} ${unitLabel}.`,
        resetHeaders(),
      );
    }

    // Per completion token, in the budget's unit; 0 means completions are free (no cap from a USD budget).
    const perToken = budget.unit === "tokens" ? 1 : outputTokenPrice(request.prices);
    const wantTokens = request.n * (request.maxTokens ?? request.contextLength);
    const want = wantTokens * perToken;
    const reservedTotal = await this.counters.reserve(key.id, period, want);
    const room = left - (reservedTotal - want);
    const granted = Math.max(0, Math.min(want, room));
    if (granted < want) await this.counters.release(key.id, period, want - granted);
    const perChoice = perToken === 0 ? null : Math.floor(granted / perToken / request.n);
    if (perChoice !== null && perChoice < 1) {
      await this.counters.release(key.id, period, granted);
      throw insufficientQuota(
        `This API key's ${budget.period} budget of ${budget.amount} ${unitLabel} is used up or reserved by requests in flight.`,
        { "retry-after": "1" },
      );
    }

    let released = false;
    const release = async (): Promise<void> => {
      if (released) return;
      released = true;
      await this.counters.release(key.id, period, granted);
    };
    return {
      maxTokens: perChoice,
      release,
      settle: async (usage) => {
        const used = budget.unit === "tokens" ? usage.promptTokens + usage.completionTokens : usage.cost;
        await Promise.all([release(), this.counters.addSpent(key.id, period, used)]);
      },
    };
  }
}

function windowHeaders(what: "requests" | "tokens", decision: WindowDecision): Record<string, string> {
  return {
    [`x-ratelimit-limit-${what}`]: String(decision.limit),
    [`x-ratelimit-remaining-${what}`]: String(Math.max(0, decision.remaining)),
    [`x-ratelimit-reset-${what}`]: formatResetDuration(decision.allowed && decision.remaining > 0 ? 0 : Math.min(decision.resetMs, WINDOW_MS)),
  };
}
