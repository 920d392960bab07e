/**
 * The memory this process may still allocate before the kernel swaps or a
 * cgroup's OOM killer acts: the smaller of the system's available memory
 * (`os.freemem()`, which libuv reads from MemAvailable on Linux) and, where a
 * cgroup limits memory, its limit minus its usage. Usage is the cgroup's
 * charge less its inactive page cache (`inactive_file`, which the kernel
 * reclaims before it OOM-kills; the kubelet's "working set"), so a model file
 * just downloaded or read does not count as used.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { formatBytes } from "./context-fit.js";

export interface CgroupMemory {
  /** The tightest limit on this process's cgroup or its ancestors. */
  limit: number;
  /** That cgroup's usage, its inactive page cache left out. */
  usage: number;
}

export interface AvailableMemory {
  bytes: number;
  /** MemAvailable (`os.freemem()`). */
  system: number;
  /** Where a cgroup limits memory; null where none does. */
  cgroup: CgroupMemory | null;
}

/** A limit this large is no limit (cgroup v1 writes 2^63 rounded down to a page). */
const NO_LIMIT = 2 ** 62;

async function readText(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, "utf8");
  } catch {
    return null;
  }
}

async function readNumber(file: string): Promise<number | null> {
  const text = (await readText(file))?.trim();
  if (text === undefined || text === "" || text === "max") return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : null;
}

/** A `key value` field of memory.stat. */
async function statField(dir: string, key: string): Promise<number> {
  const text = await readText(path.join(dir, "memory.stat"));
  const match = text === null ? null : new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return match === null ? 0 : Number(match[1]);
}

async function isDirectory(dir: string): Promise<boolean> {
  return (await fs.stat(dir).catch(() => null))?.isDirectory() === true;
}

/** This cgroup's directory under a hierarchy's mount; the mount itself inside a cgroup namespace or container that mounts only its own cgroup. */
async function cgroupDir(mount: string, cgroupPath: string): Promise<string> {
  const dir = path.join(mount, cgroupPath);
  return cgroupPath !== "/" && (await isDirectory(dir)) ? dir : mount;
}

/** cgroup v2: every level from this cgroup up to the mount may set memory.max; the one with the least room left binds. */
async function unifiedMemory(mount: string, cgroupPath: string): Promise<CgroupMemory | null> {
  let tightest: CgroupMemory | null = null;
  for (let dir = await cgroupDir(mount, cgroupPath); ; dir = path.dirname(dir)) {
    const limit = await readNumber(path.join(dir, "memory.max"));
    const current = await readNumber(path.join(dir, "memory.current"));
    if (limit !== null && limit < NO_LIMIT && current !== null) {
      const usage = Math.max(0, current - (await statField(dir, "inactive_file")));
      if (tightest === null || limit - usage < tightest.limit - tightest.usage) tightest = { limit, usage };
    }
    if (dir === mount || path.dirname(dir) === dir) return tightest;
  }
}

/** cgroup v1: memory.stat's hierarchical limit already is the tightest of the ancestors'. */
async function legacyMemory(mount: string, cgroupPath: string): Promise<CgroupMemory | null> {
  const dir = await cgroupDir(mount, cgroupPath);
  const hierarchical = await statField(dir, "hierarchical_memory_limit");
  const limit = hierarchical > 0 ? hierarchical : await readNumber(path.join(dir, "memory.limit_in_bytes"));
  const current = await readNumber(path.join(dir, "memory.usage_in_bytes"));
  if (limit === null || limit >= NO_LIMIT || current === null) return null;
  return { limit, usage: Math.max(0, current - (await statField(dir, "total_inactive_file"))) };
}

/**
 * The memory limit on this process's cgroup, from `/proc/self/cgroup` and the
 * hierarchy mounted at `root` (v2 when `root/cgroup.controllers` exists, else
 * v1's `root/memory`); null where no limit applies or nothing can be read.
 */
export async function cgroupMemory(procSelfCgroup = "/proc/self/cgroup", root = "/sys/fs/cgroup"): Promise<CgroupMemory | null> {
  const lines = ((await readText(procSelfCgroup)) ?? "").split("\n").map((line) => line.split(":"));
  if ((await readText(path.join(root, "cgroup.controllers"))) !== null) {
    const unified = lines.find((fields) => fields[0] === "0" && fields[1] === "");
    return unifiedMemory(root, unified?.slice(2).join(":") || "/");
  }
  const legacy = lines.find((fields) => fields[1]?.split(",").includes("memory") === true);
  return legacyMemory(path.join(root, "memory"), legacy?.slice(2).join(":") || "/");
}

/** The memory this process may still allocate now. */
export async function availableMemory(): Promise<AvailableMemory> {
  const system = os.freemem();
  let cgroup = process.platform === "linux" ? await cgroupMemory() : null;
  // Where the cgroup's files cannot be read, libuv may still know its limit: this process's own memory is then the least the cgroup uses.
  const constrained = process.constrainedMemory();
  if (cgroup === null && constrained > 0 && constrained < Math.min(NO_LIMIT, os.totalmem())) {
    cgroup = { limit: constrained, usage: process.memoryUsage.rss() };
  }
  const bytes = cgroup === null ? system : Math.min(system, cgroup.limit - cgroup.usage);
  return { bytes, system, cgroup };
}

/** `MemAvailable 21.62 GiB; cgroup limit 8.00 GiB − 1.20 GiB in use`, for errors and logs. */
export function describeAvailableMemory(memory: AvailableMemory): string {
  const cgroup = memory.cgroup === null ? "no cgroup memory limit" : `cgroup limit ${formatBytes(memory.cgroup.limit)} − ${formatBytes(memory.cgroup.usage)} in use`;
  return `MemAvailable ${formatBytes(memory.system)}; ${cgroup}`;
}
