/**
 * Counters for a single server process: sliding windows, spent budgets and
 * budget reservations in Maps. Same behaviour as the Redis counters (one
 * shared test suite), but nothing is shared between processes, so with
 * several replicas use Redis.
 *
 * Memory stays bounded: each window drops its expired entries whenever it is
 * touched, each budget its expired reservations, and about once a minute a
 * sweep drops keys nobody touched for a window length, spent counters past
 * their TTL and expired reservations.
 */
import {
  WINDOW_MS,
  checkClaim,
  checkFinite,
  checkNonNegative,
  checkRequestLimit,
  checkTtl,
  checkTtlMs,
  resolveNow,
  warnError,
} from "./common.js";
import type { BudgetDecision, Claim, Counters, TokenWindowGrant, WindowDecision } from "./types.js";

interface WindowEntry {
  /** Names the entry (token windows settle it). */
  id: string;
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

interface Reservation {
  amount: number;
  /** The caller's clock (`now` + ttl), ms. */
  expiresAt: number;
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
  /** Per budget (key and period), its reservations by id. */
  private readonly reserved = new Map<string, Map<string, Reservation>>();
  private readonly listeners: ((keyId: string) => void)[] = [];
  private readonly onError: (error: unknown) => void;
  private lastSweep = Date.now();
  private seq = 0;
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
      return { allowed: false, limit, remaining: 0, resetMs: untilEmpty(window.entries, t), retryMs: resetAfter(window.entries, t, count - limit + 1) };
    }
    insertSorted(window.entries, { id: this.unique(), at: t, amount: 1 });
    return { allowed: true, limit, remaining: Math.max(0, limit - count - 1), resetMs: untilEmpty(window.entries, t), retryMs: 0 };
  }

  async reserveTokens(keyId: string, limit: number, claim: Claim, now?: number): Promise<TokenWindowGrant> {
    const t = this.begin(now);
    checkNonNegative(limit, "limit");
    checkClaim(claim);
    const window = this.window(this.tokens, keyId, t);
    const used = window.entries.reduce((sum, e) => sum + e.amount, 0);
    const room = limit - used;
    if (room > 0 && room >= claim.need) {
      const granted = Math.min(claim.want, room);
      const entry: WindowEntry = { id: this.unique(), at: t, amount: granted };
      insertSorted(window.entries, entry);
      return { allowed: true, limit, remaining: room - granted, resetMs: untilEmpty(window.entries, t), retryMs: 0, granted, entry: entry.id };
    }
    // Room again once enough of the oldest entries expired that the claim fits.
    let left = used;
    let expiring = 0;
    for (const entry of window.entries) {
      left -= entry.amount;
      expiring++;
      if (limit - left > 0 && limit - left >= claim.need) break;
    }
    const fits = limit - left > 0 && limit - left >= claim.need;
    return {
      allowed: false,
      limit,
      remaining: Math.max(0, room),
      resetMs: untilEmpty(window.entries, t),
      retryMs: fits ? resetAfter(window.entries, t, expiring) : WINDOW_MS,
      granted: 0,
      entry: null,
    };
  }

  async settleTokens(keyId: string, entry: string, tokens: number): Promise<void> {
    this.begin(undefined);
    checkNonNegative(tokens, "tokens");
    const window = this.tokens.get(keyId);
    if (window === undefined) return;
    const i = window.entries.findIndex((e) => e.id === entry);
    if (i < 0) return;
    if (tokens > 0) window.entries[i]!.amount = tokens;
    else window.entries.splice(i, 1);
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

  async reserveBudget(keyId: string, periodKey: string, limit: number, claim: Claim, ttlMs: number, now?: number): Promise<BudgetDecision> {
    const t = this.begin(now);
    checkFinite(limit, "limit");
    checkClaim(claim);
    checkTtlMs(ttlMs);
    const key = budgetKey(keyId, periodKey);
    const spent = live(this.spent, key);
    if (spent === undefined) return { loaded: false };
    const reservations = this.reserved.get(key) ?? new Map<string, Reservation>();
    let reserved = 0;
    for (const [id, r] of reservations) {
      if (r.expiresAt <= t) reservations.delete(id);
      else reserved += r.amount;
    }
    const room = limit - spent.value - reserved;
    if (!(room > 0 && room >= claim.need)) return { loaded: true, granted: 0, reservation: null, spent: spent.value, reserved };
    const granted = Math.min(claim.want, room);
    const id = this.unique();
    reservations.set(id, { amount: granted, expiresAt: t + ttlMs });
    this.reserved.set(key, reservations);
    return { loaded: true, granted, reservation: id, spent: spent.value, reserved };
  }

  async renewBudget(keyId: string, periodKey: string, reservation: string, ttlMs: number, now?: number): Promise<void> {
    const t = this.begin(now);
    checkTtlMs(ttlMs);
    const entry = this.reserved.get(budgetKey(keyId, periodKey))?.get(reservation);
    if (entry !== undefined && entry.expiresAt > t) entry.expiresAt = t + ttlMs;
  }

  /**
   * Adds to a loaded counter; a counter that is not loaded (never, or its TTL
   * passed) stays unloaded, so the next reservation says so and the caller
   * reloads it from the ledger instead of trusting a partial sum.
   */
  async settleBudget(keyId: string, periodKey: string, reservation: string, amount: number): Promise<void> {
    this.begin(undefined);
    checkFinite(amount, "amount");
    const key = budgetKey(keyId, periodKey);
    this.dropReservation(key, reservation);
    const entry = live(this.spent, key);
    if (entry !== undefined) entry.value += amount;
  }

  async releaseBudget(keyId: string, periodKey: string, reservation: string): Promise<void> {
    this.begin(undefined);
    this.dropReservation(budgetKey(keyId, periodKey), reservation);
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
    let reserved = 0;
    for (const reservations of this.reserved.values()) reserved += reservations.size;
    return { requestWindows: this.requests.size, tokenWindows: this.tokens.size, spent: this.spent.size, reserved };
  }

  private dropReservation(key: string, reservation: string): void {
    const reservations = this.reserved.get(key);
    if (reservations === undefined) return;
    reservations.delete(reservation);
    if (reservations.size === 0) this.reserved.delete(key);
  }

  private unique(): string {
    this.seq += 1;
    return String(this.seq);
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
    for (const [key, entry] of this.spent) {
      if (entry.expiresAt !== null && entry.expiresAt <= real) this.spent.delete(key);
    }
    // Reservations expire by the callers' clock, which follows the real one
    // outside tests (fake-time tests keep only a few).
    for (const [key, reservations] of this.reserved) {
      for (const [id, r] of reservations) if (r.expiresAt <= real) reservations.delete(id);
      if (reservations.size === 0) this.reserved.delete(key);
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

/** ms from `now` until every entry has left the window (0 when it is empty). */
function untilEmpty(entries: WindowEntry[], now: number): number {
  const newest = entries[entries.length - 1];
  return newest === undefined ? 0 : Math.max(0, newest.at + WINDOW_MS - now);
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
