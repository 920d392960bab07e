/**
 * Budget periods in UTC: the key a period's spent counter is stored under
 * (`2026-11-22`, `2026-11`, `total`), when the period started (to sum the
 * ledger from there) and how long its counter must live.
 */
import type { BudgetPeriod } from "../store/types.js";

/**
 * Kept on top of the time left in the period: a request that started just
 * before midnight still finds its period's counter when it finishes.
 */
export const PERIOD_TTL_MARGIN_SECONDS = 3600;

function checkDate(now: Date): void {
  if (Number.isNaN(now.getTime())) throw new RangeError("invalid Date");
}

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** `2026-11-22` (daily), `2026-11` (monthly) or `total`, in UTC. */
export function budgetPeriodKey(period: BudgetPeriod, now: Date): string {
  if (period === "total") return "total";
  checkDate(now);
  // Years outside 0..9999 do not occur; padStart keeps 4 digits for small ones.
  const month = `${String(now.getUTCFullYear()).padStart(4, "0")}-${pad2(now.getUTCMonth() + 1)}`;
  return period === "monthly" ? month : `${month}-${pad2(now.getUTCDate())}`;
}

/** Start of the period containing `now` (UTC midnight / first of the month); null for total. */
export function periodStart(period: BudgetPeriod, now: Date): Date | null {
  if (period === "total") return null;
  checkDate(now);
  const day = period === "daily" ? now.getUTCDate() : 1;
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), day));
}

/** Start of the next period (Date.UTC normalises day 32 and month 12 into the next month / year). */
function periodEnd(period: "daily" | "monthly", now: Date): Date {
  return period === "daily"
    ? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1))
    : new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1));
}

/**
 * Seconds from `now` until the period ends, rounded up, plus
 * {@link PERIOD_TTL_MARGIN_SECONDS}; null for total (never expires).
 */
export function periodTtlSeconds(period: BudgetPeriod, now: Date): number | null {
  if (period === "total") return null;
  checkDate(now);
  const leftMs = periodEnd(period, now).getTime() - now.getTime();
  return Math.ceil(leftMs / 1000) + PERIOD_TTL_MARGIN_SECONDS;
}
