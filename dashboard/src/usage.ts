/**
 * Usage rows into chart series: hourly and daily buckets (UTC, as the ledger
 * groups them) filled in with zeros so the time axis has no holes, and totals.
 */
import type { UsageRow } from "./api.js";

export const HOUR = 3600;
export const DAY = 86_400;

export type Metric = "requests" | "prompt_tokens" | "completion_tokens" | "total_tokens" | "cost_usd";

export interface Buckets {
  /** Bucket starts, Unix seconds. */
  x: number[];
  rows: UsageRow[];
}

export function emptyRow(group: string | null): UsageRow {
  return { group, requests: 0, prompt_tokens: 0, cached_tokens: 0, completion_tokens: 0, reasoning_tokens: 0, total_tokens: 0, cost_usd: 0 };
}

/** `YYYY-MM-DDTHH` or `YYYY-MM-DD` (UTC) → Unix seconds of the bucket's start; null if neither. */
export function bucketStart(group: string | null): number | null {
  if (group === null) return null;
  const hour = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})/.exec(group);
  if (hour !== null) return Date.UTC(Number(hour[1]), Number(hour[2]) - 1, Number(hour[3]), Number(hour[4])) / 1000;
  const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(group);
  if (day !== null) return Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3])) / 1000;
  return null;
}

/** `count` buckets of `size` seconds ending with the one that holds `now`, each with its row or zeros. */
export function fillBuckets(rows: readonly UsageRow[], size: number, count: number, now: number): Buckets {
  const last = Math.floor(now / size) * size;
  const first = last - (count - 1) * size;
  const byStart = new Map<number, UsageRow>();
  for (const row of rows) {
    const start = bucketStart(row.group);
    if (start !== null) byStart.set(Math.floor(start / size) * size, row);
  }
  const x: number[] = [];
  const out: UsageRow[] = [];
  for (let t = first; t <= last; t += size) {
    x.push(t);
    out.push(byStart.get(t) ?? emptyRow(null));
  }
  return { x, rows: out };
}

export function totals(rows: readonly UsageRow[]): UsageRow {
  const sum = emptyRow(null);
  for (const row of rows) {
    sum.requests += row.requests;
    sum.prompt_tokens += row.prompt_tokens;
    sum.cached_tokens += row.cached_tokens;
    sum.completion_tokens += row.completion_tokens;
    sum.reasoning_tokens += row.reasoning_tokens;
    sum.total_tokens += row.total_tokens;
    sum.cost_usd += row.cost_usd;
  }
  return sum;
}

export function column(rows: readonly UsageRow[], metric: Metric): number[] {
  return rows.map((row) => row[metric]);
}
