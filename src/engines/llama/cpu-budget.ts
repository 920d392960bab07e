/**
 * How many CPU threads this process may really use: the CPU affinity mask
 * (os.availableParallelism) capped by a cgroup CPU quota (containers,
 * systemd slices). llama.cpp threads spin while they wait for each other, so
 * one thread more than the cores we get is far slower, never faster.
 */
import fs from "node:fs";
import os from "node:os";

/** cgroup v2 `cpu.max` ("max 100000" or "<quota> <period>") → whole CPUs, or null when unlimited. */
export function parseCpuMax(text: string): number | null {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === "max") return null;
  const q = Number(quota);
  const p = Number(period ?? 100000);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return null;
  return Math.max(1, Math.floor(q / p));
}

/** cgroup v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us` → whole CPUs, or null when unlimited (-1). */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  const q = Number(quotaText.trim());
  const p = Number(periodText.trim());
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return null;
  return Math.max(1, Math.floor(q / p));
}

function read(file: string): string | null {
  try {
    return fs.readFileSync(file, "utf8");
  } catch {
    return null;
  }
}

export function cgroupCpuLimit(root = "/sys/fs/cgroup"): number | null {
  const v2 = read(`${root}/cpu.max`);
  if (v2 !== null) return parseCpuMax(v2);
  const quota = read(`${root}/cpu/cpu.cfs_quota_us`);
  const period = read(`${root}/cpu/cpu.cfs_period_us`);
  return quota !== null && period !== null ? parseCfsQuota(quota, period) : null;
}

export function usableCpus(): number {
  const affinity = os.availableParallelism();
  return Math.max(1, Math.min(affinity, cgroupCpuLimit() ?? affinity));
}
