/**
 * Picks the deployment a request (or its next retry) goes to.
 *
 * Only deployments whose breaker lets a request pass are candidates. Among
 * those, each rule below narrows the set only when something is left:
 *   1. healthy providers (unhealthy ones only while no healthy one exists);
 *   2. not cooling down after a 429 Retry-After;
 *   3. provider below maxConcurrent (otherwise undici's pool queues it);
 *   4. not already tried by this request;
 * then the lowest priority tier, then the strategy within the tier:
 * `weighted` (random by weight) or `least-outstanding` (fewest requests in
 * flight, ties random by weight).
 */
import type { DeploymentState } from "./provider-pool.js";
import type { BalanceStrategy } from "./types.js";

export interface BalancerCandidate {
  deployment: DeploymentState;
  weight: number;
  priority: number;
}

function narrow<T>(items: T[], keep: (item: T) => boolean): T[] {
  const kept = items.filter(keep);
  return kept.length > 0 ? kept : items;
}

/** Random by weight; all weights ≤ 0 → uniform. */
export function pickWeighted<T extends { weight: number }>(items: readonly T[], random: () => number): T | null {
  if (items.length <= 1) return items[0] ?? null;
  let total = 0;
  for (const item of items) total += Math.max(0, item.weight);
  if (total <= 0) return items[Math.min(items.length - 1, Math.floor(random() * items.length))] ?? null;
  let r = random() * total;
  for (const item of items) {
    const w = Math.max(0, item.weight);
    if (r < w) return item;
    r -= w;
  }
  // Rounding: the last item with a positive weight.
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i];
    if (item !== undefined && item.weight > 0) return item;
  }
  return null;
}

export function chooseDeployment(
  candidates: readonly BalancerCandidate[],
  strategy: BalanceStrategy,
  tried: ReadonlySet<DeploymentState>,
  now: number,
  random: () => number = Math.random,
): BalancerCandidate | null {
  let pool = candidates.filter((c) => c.deployment.breaker.allows());
  if (pool.length === 0) return null;
  pool = narrow(pool, (c) => c.deployment.provider.healthy);
  pool = narrow(pool, (c) => c.deployment.coolingUntil <= now);
  pool = narrow(pool, (c) => c.deployment.provider.hasCapacity());
  pool = narrow(pool, (c) => !tried.has(c.deployment));

  let tier = Infinity;
  for (const c of pool) tier = Math.min(tier, c.priority);
  pool = pool.filter((c) => c.priority === tier);

  if (strategy === "least-outstanding") {
    let least = Infinity;
    for (const c of pool) least = Math.min(least, c.deployment.outstanding);
    pool = pool.filter((c) => c.deployment.outstanding === least);
  }
  return pickWeighted(pool, random);
}
