/**
 * Which llama.cpp binary a running server process uses, read from the
 * outside: the shared objects its /proc/PID/maps lists (Linux only). For
 * chatport that is node-llama-cpp's addon — a prebuilt package's, with the
 * ggml CPU variant llama.cpp chose at load (`libggml-cpu-haswell.so`, …), or
 * a local build's — so a bench row says what it measured without asking the
 * server, and without raising its log level.
 */
import fs from "node:fs";
import path from "node:path";

export interface MappedBinary {
  /** `prebuilt @node-llama-cpp/linux-x64@3.21.1`, `native build (localBuilds/linux-x64-…)`, or the path of another addon. */
  addon: string | null;
  /** The ggml CPU backend variants mapped (`haswell`, `zen4`, …; empty when the CPU backend is built in). */
  cpuVariants: string[];
}

function packageOf(file: string): string | null {
  // …/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/llama-addon.node → that package's package.json
  const match = /(.*\/node_modules\/@node-llama-cpp\/[^/]+)\//.exec(file);
  if (match?.[1] === undefined) return null;
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(match[1], "package.json"), "utf8")) as { name?: string; version?: string };
    return `${pkg.name ?? path.basename(match[1])}@${pkg.version ?? "?"}`;
  } catch {
    return path.basename(match[1]);
  }
}

/** What /proc/PID/maps says about the llama.cpp binary; null when it cannot be read (not Linux, process gone). */
export function mappedBinary(pid: number | undefined): MappedBinary | null {
  if (pid === undefined) return null;
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, "utf8");
  } catch {
    return null;
  }
  const files = new Set<string>();
  for (const line of maps.split("\n")) {
    const file = line.split(/\s+/).slice(5).join(" ");
    if (file.startsWith("/")) files.add(file);
  }
  return describeMappedFiles([...files]);
}

/** The addon and the CPU variants among a process's mapped files. */
export function describeMappedFiles(files: readonly string[]): MappedBinary {
  const addonFile = files.find((f) => path.basename(f) === "llama-addon.node") ?? null;
  let addon: string | null = null;
  if (addonFile !== null) {
    const pkg = packageOf(addonFile);
    const local = /\/localBuilds\/([^/]+)\//.exec(addonFile)?.[1];
    addon = pkg !== null ? `prebuilt ${pkg}` : local !== undefined ? `native build (localBuilds/${local})` : addonFile;
  }
  const cpuVariants = [...new Set(files.map((f) => /libggml-cpu-([\w-]+)\.so$/.exec(path.basename(f))?.[1]).filter((v): v is string => v !== undefined))];
  return { addon, cpuVariants };
}

/** One line for a report: `prebuilt @node-llama-cpp/linux-x64@3.21.1, CPU variant zen4`. */
export function mappedBinarySummary(binary: MappedBinary | null): string {
  if (binary === null || binary.addon === null) return "unknown (no /proc maps or no llama.cpp addon mapped)";
  return binary.cpuVariants.length === 0 ? binary.addon : `${binary.addon}, CPU variant ${binary.cpuVariants.join("+")}`;
}
