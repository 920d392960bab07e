/**
 * Constants and argument checks shared by the in-process and the Redis
 * counters, so both behave the same on the same input (the shared test suite
 * runs against both).
 */

/** Length of the sliding request and token windows. */
export const WINDOW_MS = 60_000;

/**
 * A budget reservation lives this long unless renewed; the replica that holds
 * it renews it every third of this while its request runs, so one that died
 * (kill -9, partition) pins a key's budget for at most this long.
 */
export const RESERVATION_TTL_MS = 30_000;

/** Resolves the optional `now` argument of the window methods. */
export function resolveNow(now: number | undefined): number {
  if (now === undefined) return Date.now();
  if (!Number.isFinite(now)) throw new RangeError(`now must be a finite number of ms, got ${now}`);
  return now;
}

export function checkFinite(value: number, name: string): void {
  if (!Number.isFinite(value)) throw new RangeError(`${name} must be a finite number, got ${value}`);
}

export function checkNonNegative(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
}

/** Request limits are whole numbers of requests. */
export function checkRequestLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new RangeError(`limit must be an integer >= 0, got ${limit}`);
}

export function checkClaim(claim: { need: number; want: number }): void {
  checkNonNegative(claim.need, "claim.need");
  checkNonNegative(claim.want, "claim.want");
  if (claim.want < claim.need) throw new RangeError(`claim.want (${claim.want}) must be >= claim.need (${claim.need})`);
}

export function checkTtlMs(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}

export function checkTtl(ttlSeconds: number | null): void {
  if (ttlSeconds !== null && (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0)) {
    throw new RangeError(`ttlSeconds must be a positive integer or null, got ${ttlSeconds}`);
  }
}

/**
 * Default sink for errors nobody awaits (a key-change listener that threw, a
 * Redis connection error between calls): a process warning, which Node prints
 * to stderr, rather than an uncaught exception that would end the server.
 */
export function warnError(error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  process.emitWarning(err.message, { type: "ChatportLimitsWarning", detail: err.stack });
}
