/**
 * Counters that enforce per-key limits. In-process for one server, Redis
 * for replicas: both implement this interface and pass the same tests, so N
 * replicas sharing one Redis enforce one limit.
 *
 * Token windows and budgets are held *before* a request runs: a request
 * claims room for its prompt and its largest completion, atomically with the
 * decision, and settles to what it used afterwards. Concurrent requests
 * therefore cannot overshoot together.
 */

export interface WindowDecision {
  allowed: boolean;
  limit: number;
  /** What is left in the window after this decision. */
  remaining: number;
  /** ms until the window is back to its full limit: every entry counted now has left it (0 when it is empty). */
  resetMs: number;
  /** ms until there is room for this request (0 when allowed). */
  retryMs: number;
}

/** Room asked of a token window or a budget: at least `need` (else refused), up to `want`. */
export interface Claim {
  need: number;
  want: number;
}

export interface TokenWindowGrant extends WindowDecision {
  /** Tokens held in the window for this request (0 when refused). */
  granted: number;
  /** Names the held entry, for {@link Counters.settleTokens}; null when refused. */
  entry: string | null;
}

export type BudgetDecision =
  /** The spent counter is not loaded: load it from the ledger ({@link Counters.initSpent}) and ask again. */
  | { loaded: false }
  | {
      loaded: true;
      /** Held for this request (0 when refused). */
      granted: number;
      /** Names the reservation, to renew, settle or release it; null when refused. */
      reservation: string | null;
      /** Spent in the period, and reserved by other requests in flight, when it was decided. */
      spent: number;
      reserved: number;
    };

export interface Counters {
  /**
   * Sliding 60-second request window: counts this request if fewer than
   * `limit` were counted in the last 60 s, otherwise refuses it.
   */
  takeRequest(keyId: string, limit: number, now?: number): Promise<WindowDecision>;
  /**
   * Sliding 60-second token window: holds up to `claim.want` tokens at `now`
   * if at least `claim.need` are left of `limit` (counting the tokens other
   * requests hold), otherwise refuses. The entry stays at `now` in the
   * window; {@link settleTokens} replaces its amount with what was used.
   */
  reserveTokens(keyId: string, limit: number, claim: Claim, now?: number): Promise<TokenWindowGrant>;
  /** Replaces a held entry's tokens with what the request used (nothing if the entry has left the window). */
  settleTokens(keyId: string, entry: string, tokens: number): Promise<void>;

  /**
   * Budget spent in the period `periodKey` (e.g. `2026-11-22`, `2026-11`, `total`) in the
   * budget's unit, or null when this counter has not been loaded since start
   * (the caller then loads it from the ledger with {@link initSpent}).
   */
  getSpent(keyId: string, periodKey: string): Promise<number | null>;
  /** Sets the spent counter if it is not set yet (another replica may have won). */
  initSpent(keyId: string, periodKey: string, value: number, ttlSeconds: number | null): Promise<void>;

  /**
   * Reserves up to `claim.want` of the budget `limit` if at least
   * `claim.need` is left after what was spent and what requests in flight
   * hold (and something is left at all), otherwise refuses. Each reservation
   * expires on its own `ttlMs` after `now` unless renewed, so a replica that
   * died cannot hold a budget longer than that, whatever other traffic the key has.
   */
  reserveBudget(keyId: string, periodKey: string, limit: number, claim: Claim, ttlMs: number, now?: number): Promise<BudgetDecision>;
  /** Moves a live reservation's expiry to `now + ttlMs` (nothing if it has expired or is gone). */
  renewBudget(keyId: string, periodKey: string, reservation: string, ttlMs: number, now?: number): Promise<void>;
  /** Ends a reservation and adds `amount` to the spent counter (if loaded), in one step. */
  settleBudget(keyId: string, periodKey: string, reservation: string, amount: number): Promise<void>;
  /** Ends a reservation without spending. */
  releaseBudget(keyId: string, periodKey: string, reservation: string): Promise<void>;

  /** Tells every replica a key changed (revoked, edited); they drop cached copies. */
  publishKeyChange(keyId: string): Promise<void>;
  onKeyChange(listener: (keyId: string) => void): void;

  /** Resolves when the counters' store answers (Redis PING); rejects with StorageUnavailableError when it cannot be reached. */
  ping(): Promise<void>;

  close(): Promise<void>;
}
