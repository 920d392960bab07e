/**
 * Counters for a single server process: sliding windows, spent and reserved
 * budgets in Maps. Same behaviour as the Redis counters (one shared test
 * suite), but nothing is shared between processes, so with several replicas
 * use Redis.
 *
 * Memory stays bounded: each window drops its expired entries whenever it is
 * touched, and about once a minute a sweep drops keys nobody touched for a
 * window length, spent counters past their TTL and expired reservations.
 */
import {
  RESERVATION_TTL_MS,
  WINDOW_MS,
  checkFinite,
  checkNonNegative,
  checkRequestLimit,
  checkTtl,
  resolveNow,
  warnError,
} from "./common.js";
import type { Counters, WindowDecision } from "./types.js";

interface WindowEntry {
  /** The caller's clock (the `now` argument), ms. */
  at: number;
  /** 1 for a request, the token count for a token window. */
  amount: number;
}

interface Window {
  /** Sorted by `at`, oldest first. */
  entries: WindowEntry[];
  /** Date.now() of the last call that touched it: what the sweep looks at. */
  touchedAt: number;
}

interface Expiring {
  value: number;
  /** Date.now() after which the value is gone; null = never. */
  expiresAt: number | null;
}

export interface MemoryCountersOptions {
  /** Where a key-change listener's exception goes; default: a process warning. */
  onError?: (error: unknown) => void;
}

const SWEEP_EVERY_MS = WINDOW_MS;

export class MemoryCounters implements Counters {
  private readonly requests = new Map<string, Window>();
  private readonly tokens = new Map<string, Window>();
  private readonly spent = new Map<string, Expiring>();
  private readonly reserved = new Map<string, Expiring>();
  private readonly listeners: ((keyId: string) => void)[] = [];
  private readonly onError: (error: unknown) => void;
  private lastSweep = Date.now();
  private closed = false;

  constructor(options: MemoryCountersOptions = {}) {
    this.onError = options.onError ?? warnError;
  }

  async takeRequest(keyId: string, limit: number, now?: number): Promise<WindowDecision> {
    const t = this.begin(now);
    checkRequestLimit(limit);
    const window = this.window(this.requests, keyId, t);
    const count = window.entries.length;
    if (count >= limit) {
      return { allowed: false, limit, remaining: 0, resetMs: resetAfter(window.entries, t, count - limit + 1) };
    }
    insertSorted(window.entries, { at: t, amount: 1 });
    const remaining = Math.max(0, limit - count - 1);
    // The last slot was just taken: room again when the oldest entry expires.
    return { allowed: true, limit, remaining, resetMs: remaining > 0 ? 0 : resetAfter(window.entries, t, 1) };
  }

  async checkTokens(keyId: string, limit: number, now?: number): Promise<WindowDecision> {
    const t = this.begin(now);
    checkNonNegative(limit, "limit");
    // A check alone does not create a window.
    if (!this.tokens.has(keyId)) return limit > 0 ? { allowed: true, limit, remaining: limit, resetMs: 0 } : { allowed: false, limit, remaining: 0, resetMs: WINDOW_MS };
    const window = this.window(this.tokens, keyId, t);
    const used = window.entries.reduce((sum, e) => sum + e.amount, 0);
    if (used < limit) return { allowed: true, limit, remaining: limit - used, resetMs: 0 };
    // Room again once enough of the oldest entries expired that less than `limit` is left.
    let left = used;
    let expiring = 0;
    for (const entry of window.entries) {
      left -= entry.amount;
      expiring++;
      if (left < limit) break;
    }
    return { allowed: false, limit, remaining: 0, resetMs: left < limit ? resetAfter(window.entries, t, expiring) : WINDOW_MS };
  }

  async addTokens(keyId: string, tokens: number, now?: number): Promise<void> {
    const t = this.begin(now);
    checkNonNegative(tokens, "tokens");
    const window = this.window(this.tokens, keyId, t);
    if (tokens > 0) insertSorted(window.entries, { at: t, amount: tokens });
  }

  async getSpent(keyId: string, periodKey: string): Promise<number | null> {
    this.begin(undefined);
    return live(this.spent, budgetKey(keyId, periodKey))?.value ?? null;
  }

  async initSpent(keyId: string, periodKey: string, value: number, ttlSeconds: number | null): Promise<void> {
    this.begin(undefined);
    checkFinite(value, "value");
    checkTtl(ttlSeconds);
    const key = budgetKey(keyId, periodKey);
    if (live(this.spent, key) !== undefined) return;
    this.spent.set(key, { value, expiresAt: ttlSeconds === null ? null : Date.now() + ttlSeconds * 1000 });
  }

  /**
   * Adds to a loaded counter; a counter that is not loaded (never, or its TTL
   * passed) stays unloaded, so the next getSpent returns null and the caller
   * reloads it from the ledger instead of trusting a partial sum.
   */
  async addSpent(keyId: string, periodKey: string, amount: number): Promise<void> {
    this.begin(undefined);
    checkFinite(amount, "amount");
    const entry = live(this.spent, budgetKey(keyId, periodKey));
    if (entry !== undefined) entry.value += amount;
  }

  async reserve(keyId: string, periodKey: string, amount: number): Promise<number> {
    this.begin(undefined);
    checkNonNegative(amount, "amount");
    const key = budgetKey(keyId, periodKey);
    const value = (live(this.reserved, key)?.value ?? 0) + amount;
    this.reserved.set(key, { value, expiresAt: Date.now() + RESERVATION_TTL_MS });
    return value;
  }

  async release(keyId: string, periodKey: string, amount: number): Promise<void> {
    this.begin(undefined);
    checkNonNegative(amount, "amount");
    const key = budgetKey(keyId, periodKey);
    const entry = live(this.reserved, key);
    if (entry === undefined) return;
    entry.value -= amount;
    // Never below 0; float dust left by e.g. 0.1 + 0.2 - 0.3 counts as nothing.
    if (entry.value <= 1e-9) this.reserved.delete(key);
  }

  async publishKeyChange(keyId: string): Promise<void> {
    this.begin(undefined);
    for (const listener of [...this.listeners]) {
      queueMicrotask(() => {
        try {
          listener(keyId);
        } catch (error) {
          this.onError(error);
        }
      });
    }
  }

  onKeyChange(listener: (keyId: string) => void): void {
    this.listeners.push(listener);
  }

  /** In process: always reachable. */
  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
    this.requests.clear();
    this.tokens.clear();
    this.spent.clear();
    this.reserved.clear();
    this.listeners.length = 0;
  }

  /** How many entries it holds (monitoring, and the tests that check memory stays bounded). */
  stats(): { requestWindows: number; tokenWindows: number; spent: number; reserved: number } {
    return { requestWindows: this.requests.size, tokenWindows: this.tokens.size, spent: this.spent.size, reserved: this.reserved.size };
  }

  /** Common start of every call: refuses after close, resolves `now`, sweeps now and then. */
  private begin(now: number | undefined): number {
    if (this.closed) throw new Error("MemoryCounters is closed");
    const t = resolveNow(now);
    const real = Date.now();
    if (real - this.lastSweep >= SWEEP_EVERY_MS) {
      this.lastSweep = real;
      this.sweep(real);
    }
    return t;
  }

  /** The key's window with entries at or before `now - WINDOW_MS` dropped (created when missing). */
  private window(map: Map<string, Window>, keyId: string, now: number): Window {
    let window = map.get(keyId);
    if (window === undefined) {
      window = { entries: [], touchedAt: 0 };
      map.set(keyId, window);
    }
    window.touchedAt = Date.now();
    const cutoff = now - WINDOW_MS;
    let expired = 0;
    while (expired < window.entries.length && window.entries[expired]!.at <= cutoff) expired++;
    if (expired > 0) window.entries.splice(0, expired);
    return window;
  }

  /**
   * Drops what cannot matter any more. Windows go by the real clock: one not
   * touched for a window length holds only expired entries for any caller
   * whose `now` follows the real clock (tests with fake times touch their
   * windows much more often than that).
   */
  private sweep(real: number): void {
    for (const map of [this.requests, this.tokens]) {
      for (const [key, window] of map) {
        if (real - window.touchedAt >= WINDOW_MS) map.delete(key);
      }
    }
    for (const map of [this.spent, this.reserved]) {
      for (const [key, entry] of map) {
        if (entry.expiresAt !== null && entry.expiresAt <= real) map.delete(key);
      }
    }
  }
}

/** keyId and periodKey joined so that no two pairs share a key (both are encoded; ":" cannot occur in either). */
function budgetKey(keyId: string, periodKey: string): string {
  return `${encodeURIComponent(periodKey)}:${encodeURIComponent(keyId)}`;
}

/** The entry if it exists and has not expired; an expired one is dropped. */
function live(map: Map<string, Expiring>, key: string): Expiring | undefined {
  const entry = map.get(key);
  if (entry === undefined) return undefined;
  if (entry.expiresAt !== null && entry.expiresAt <= Date.now()) {
    map.delete(key);
    return undefined;
  }
  return entry;
}

/** ms from `now` until the `count` oldest entries have left the window. */
function resetAfter(entries: WindowEntry[], now: number, count: number): number {
  // More than it holds (limit 0): never room; the caller may try again in a window.
  const last = count <= entries.length ? entries[count - 1] : undefined;
  return last === undefined ? WINDOW_MS : Math.max(0, last.at + WINDOW_MS - now);
}

/** Keeps `entries` sorted by time; appends in O(1) when times only go forward (the usual case). */
function insertSorted(entries: WindowEntry[], entry: WindowEntry): void {
  let i = entries.length;
  while (i > 0 && entries[i - 1]!.at > entry.at) i--;
  entries.splice(i, 0, entry);
}
