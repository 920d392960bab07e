/**
 * Counters that enforce per-key limits. In-process for one server, Redis
 * for replicas: both implement this interface and pass the same tests, so N
 * replicas sharing one Redis enforce one limit.
 */

export interface WindowDecision {
  allowed: boolean;
  limit: number;
  /** What is left in the window after this decision. */
  remaining: number;
  /** ms until the window has room again (0 when allowed and room remains). */
  resetMs: number;
}

export interface Counters {
  /**
   * Sliding 60-second request window: counts this request if fewer than
   * `limit` were counted in the last 60 s, otherwise refuses it.
   */
  takeRequest(keyId: string, limit: number, now?: number): Promise<WindowDecision>;
  /** Sliding 60-second token window: may this key start a request now? (Refused once `limit` tokens were used in the window.) */
  checkTokens(keyId: string, limit: number, now?: number): Promise<WindowDecision>;
  /** Adds tokens a finished (or cut) request used to the key's token window. */
  addTokens(keyId: string, tokens: number, now?: number): Promise<void>;

  /**
   * Budget spent in the period `periodKey` (e.g. `2026-11-22`, `2026-11`, `total`) in the
   * budget's unit, or null when this counter has not been loaded since start
   * (the caller then loads it from the ledger with {@link initSpent}).
   */
  getSpent(keyId: string, periodKey: string): Promise<number | null>;
  /** Sets the spent counter if it is not set yet (another replica may have won). */
  initSpent(keyId: string, periodKey: string, value: number, ttlSeconds: number | null): Promise<void>;
  addSpent(keyId: string, periodKey: string, amount: number): Promise<void>;

  /** Budget reserved by requests in flight, so concurrent requests cannot overshoot together. */
  reserve(keyId: string, periodKey: string, amount: number): Promise<number>;
  release(keyId: string, periodKey: string, amount: number): Promise<void>;

  /** Tells every replica a key changed (revoked, edited); they drop cached copies. */
  publishKeyChange(keyId: string): Promise<void>;
  onKeyChange(listener: (keyId: string) => void): void;

  /** Resolves when the counters' store answers (Redis PING); rejects with StorageUnavailableError when it cannot be reached. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
