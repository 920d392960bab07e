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
import { RESERVATION_TTL_MS } from "../limits/common.js";
import type { Counters, WindowDecision } from "../limits/types.js";
import type { PreparedChat } from "../engines/engine.js";
import {
  insufficientQuota,
  invalidApiKey,
  missingApiKey,
  modelNotPermitted,
  rateLimited,
  unusableApiKey,
} from "../protocol/errors.js";
import type { KeyRecord, KeyStore, Ledger } from "../store/types.js";
import { inputTokenPrice, outputTokenPrice } from "./pricing.js";
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
  /** Completion tokens per choice the client asked for (null: none said). */
  maxTokens: number | null;
  /** The prompt as the engine prepared it: its tokens (counted, or estimated for upstreams) and the completion room its context leaves. */
  prompt: PreparedChat;
  prices: ModelPrices | undefined;
  /**
   * The request window already counted this request (an earlier model of its
   * fallback chain was admitted, then refused the prompt): one request is one
   * request, however many models it was offered to.
   */
  requestCounted?: boolean;
}

export interface SettledUsage {
  promptTokens: number;
  completionTokens: number;
  cost: number;
}

/** A request let through: headers to send, the completion cap its limits impose, and how to settle. */
export interface Admission {
  headers: Record<string, string>;
  /**
   * Completion tokens per choice the key's token window and budget allow,
   * never more than the context leaves after the prompt nor than the client
   * asked for (null: no limit applies, the client's max_tokens stands).
   */
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
  /**
   * A budget reservation expires this long after it was made or last renewed;
   * requests in flight renew theirs every third of it (default {@link RESERVATION_TTL_MS}).
   */
  reservationTtlMs?: number;
  now?: () => number;
}

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

/** The admission of a caller no limit applies to. */
export const noLimits: Admission = { headers: {}, maxTokens: null, settle: async () => {} };

/** A budget reservation held by a request in flight here, renewed until it is settled or released. */
interface HeldReservation {
  keyId: string;
  period: string;
  reservation: string;
  /** this.now() when it was made. */
  since: number;
}

/**
 * Reservations are renewed for at most this long: a request that somehow
 * never settles (a bug) cannot hold a budget for longer than this plus a TTL.
 */
const MAX_RENEWAL_MS = 60 * 60_000;

export class Gatekeeper {
  private readonly keys: KeyStore;
  private readonly ledger: Ledger;
  private readonly counters: Counters;
  private readonly isStaticKey: ((presented: string | null) => boolean) | null;
  private readonly adminConfigured: boolean;
  private readonly isAdminKey: ((presented: string | null) => boolean) | null;
  private readonly cacheMs: number;
  private readonly reservationTtlMs: number;
  private readonly now: () => number;
  private readonly held = new Set<HeldReservation>();
  private renewTimer: NodeJS.Timeout | null = null;
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
    this.reservationTtlMs = options.reservationTtlMs ?? RESERVATION_TTL_MS;
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
    return this.authenticateKey(bearerToken(authorization));
  }

  /** Authenticates a presented key however the API carries it (`Authorization: Bearer`, Anthropic's `x-api-key`); null: none presented. */
  async authenticateKey(presented: string | null): Promise<Caller> {
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

  /** Throws 403 model_not_permitted unless the caller may use the model. */
  checkModel(caller: Caller, model: string, canonical: string = model): void {
    if (!this.mayUse(caller, model, canonical)) throw modelNotPermitted(model);
  }

  /**
   * Checks the key's model list, token window, budget and request window, in
   * that order (the request window is the only one that counts on a check, so
   * a request refused for tokens or budget does not use up a request).
   *
   * The token window and the budget are reserved, not just checked: each
   * holds the prompt plus the largest completion it lets through, atomically
   * with the decision, and caps the completion at what it could hold. So
   * concurrent requests, on any number of replicas, cannot together spend
   * more than the window or the budget (by more than an upstream's prompt
   * exceeding its estimate, which the estimate is made never to do).
   */
  async admit(caller: Caller, request: AdmitRequest): Promise<Admission> {
    const key = caller.key;
    if (key === null) return noLimits;
    this.checkModel(caller, request.model, request.canonical);
    const now = this.now();
    const headers: Record<string, string> = {};
    const { n } = request;
    const promptTokens = request.prompt.promptTokens;
    // Per choice: what the client asked for, else what the context leaves after the prompt.
    let cap = request.maxTokens ?? request.prompt.completionRoom;
    let capped = false;

    let tokenEntry: string | null = null;
    if (key.tpm !== null) {
      const tokens = await this.counters.reserveTokens(key.id, key.tpm, { need: promptTokens + n, want: promptTokens + n * cap }, now);
      Object.assign(headers, windowHeaders("tokens", tokens));
      if (!tokens.allowed) throw rateLimited("tokens", key.tpm, { ...headers, "retry-after": retryAfterSeconds(tokens.retryMs) });
      tokenEntry = tokens.entry;
      cap = Math.floor((tokens.granted - promptTokens) / n);
      capped = true;
    }
    const settleTokens = async (used: number): Promise<void> => {
      if (tokenEntry !== null) await this.counters.settleTokens(key.id, tokenEntry, used);
      tokenEntry = null;
    };

    let budget: BudgetHold | null = null;
    if (key.budget !== null) {
      try {
        budget = await this.reserveBudget(key, request, promptTokens, cap, now);
      } catch (err) {
        await settleTokens(0);
        throw err;
      }
      if (budget.maxTokens !== null) {
        cap = Math.min(cap, budget.maxTokens);
        capped = true;
      }
    }

    if (key.rpm !== null && request.requestCounted !== true) {
      const requests = await this.counters.takeRequest(key.id, key.rpm, now);
      Object.assign(headers, windowHeaders("requests", requests));
      if (!requests.allowed) {
        await Promise.all([budget?.release(), settleTokens(0)]);
        throw rateLimited("requests", key.rpm, { ...headers, "retry-after": retryAfterSeconds(requests.retryMs) });
      }
    }

    let settled = false;
    return {
      headers,
      maxTokens: capped ? cap : null,
      settle: async (usage) => {
        if (settled) return;
        settled = true;
        await Promise.all([settleTokens(usage.promptTokens + usage.completionTokens), budget?.settle(usage)]);
      },
    };
  }

  /**
   * Reserves the prompt and the completion in the key's budget, up to what
   * is left after what was spent and what other requests in flight hold. The
   * completion cap is what the reservation covers; the reservation is
   * renewed while the request runs and settled to its real cost after it.
   */
  private async reserveBudget(key: KeyRecord, request: AdmitRequest, promptTokens: number, cap: number, now: number): Promise<BudgetHold> {
    const budget = key.budget;
    if (budget === null) throw new Error("reserveBudget without a budget");
    const date = new Date(now);
    const period = budgetPeriodKey(budget.period, date);
    const { n } = request;
    // In the budget's unit: per completion token (0: completions are free, no cap from a USD budget) and for the prompt.
    const perToken = budget.unit === "tokens" ? 1 : outputTokenPrice(request.prices);
    const promptCost = budget.unit === "tokens" ? promptTokens : inputTokenPrice(request.prices) * promptTokens;
    const claim = perToken === 0 ? { need: promptCost, want: promptCost } : { need: promptCost + n * perToken, want: promptCost + n * cap * perToken };

    let decision = await this.counters.reserveBudget(key.id, period, budget.amount, claim, this.reservationTtlMs, now);
    if (!decision.loaded) {
      const fromLedger = await this.ledger.spent(key.id, periodStart(budget.period, date));
      await this.counters.initSpent(key.id, period, budget.unit === "tokens" ? fromLedger.tokens : fromLedger.cost, periodTtlSeconds(budget.period, date));
      decision = await this.counters.reserveBudget(key.id, period, budget.amount, claim, this.reservationTtlMs, now);
      if (!decision.loaded) throw new Error(`budget counter of key ${key.id} did not load`);
    }
    const reservation = decision.reservation;
    if (reservation === null) {
      const unitLabel = budget.unit === "tokens" ? "tokens" : "USD";
      if (decision.spent >= budget.amount) {
        const ttl = periodTtlSeconds(budget.period, date);
        throw insufficientQuota(
          `This API key has used its ${budget.period} budget of ${budget.amount} ${unitLabel}.`,
          ttl === null ? {} : { "retry-after": String(Math.max(1, Math.ceil(ttl))) },
        );
      }
      throw insufficientQuota(
        `This API key's ${budget.period} budget of ${budget.amount} ${unitLabel} has ${formatAmount(budget.amount - decision.spent - decision.reserved)} left ` +
          `after requests in flight, less than this request needs (${formatAmount(claim.need)}: its prompt and one completion token per choice).`,
        { "retry-after": "1" },
      );
    }

    const held: HeldReservation = { keyId: key.id, period, reservation, since: now };
    this.hold(held);
    let ended = false;
    const end = async (spent: number | null): Promise<void> => {
      if (ended) return;
      ended = true;
      this.unhold(held);
      if (spent === null) await this.counters.releaseBudget(key.id, period, reservation);
      else await this.counters.settleBudget(key.id, period, reservation, spent);
    };
    // A float a hair under a whole token must not lose it.
    const maxTokens = perToken === 0 ? null : Math.floor((decision.granted - promptCost) / perToken / n + 1e-9);
    return {
      maxTokens,
      release: () => end(null),
      settle: (usage) => end(budget.unit === "tokens" ? usage.promptTokens + usage.completionTokens : usage.cost),
    };
  }

  /** Keeps a reservation alive while its request runs: one timer renews all of them every third of their TTL. */
  private hold(held: HeldReservation): void {
    this.held.add(held);
    if (this.renewTimer !== null) return;
    this.renewTimer = setInterval(() => {
      const now = this.now();
      for (const h of this.held) {
        if (now - h.since > MAX_RENEWAL_MS) {
          this.unhold(h);
          continue;
        }
        // A failed renewal is tried again at the next tick; the reservation lasts a whole TTL meanwhile.
        this.counters.renewBudget(h.keyId, h.period, h.reservation, this.reservationTtlMs, now).catch(() => {});
      }
    }, Math.max(1, Math.floor(this.reservationTtlMs / 3)));
    this.renewTimer.unref();
  }

  private unhold(held: HeldReservation): void {
    this.held.delete(held);
    if (this.held.size === 0 && this.renewTimer !== null) {
      clearInterval(this.renewTimer);
      this.renewTimer = null;
    }
  }
}

interface BudgetHold {
  /** Completion tokens per choice the reservation covers (null: completions are free). */
  maxTokens: number | null;
  release(): Promise<void>;
  settle(usage: SettledUsage): Promise<void>;
}

/** A budget amount for a message: tokens whole, USD to 6 decimals. */
function formatAmount(amount: number): string {
  return String(Number(Math.max(0, amount).toFixed(6)));
}

/** OpenAI's x-ratelimit-* headers; reset is the time until the window is back to its full limit, as OpenAI means it. */
function windowHeaders(what: "requests" | "tokens", decision: WindowDecision): Record<string, string> {
  return {
    [`x-ratelimit-limit-${what}`]: String(decision.limit),
    [`x-ratelimit-remaining-${what}`]: String(Math.max(0, Math.floor(decision.remaining))),
    [`x-ratelimit-reset-${what}`]: formatResetDuration(decision.resetMs),
  };
}
