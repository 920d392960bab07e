/**
 * Self time per function from a V8 `.cpuprofile` (`node --cpu-prof`): the
 * samples each function was on top of the stack, summed, most first, with the
 * share of the whole profile and of the time not spent idle. `--by file`
 * sums per source file instead (a module's whole cost: node-llama-cpp,
 * fastify, pino, ours); `--total` ranks by inclusive time (the function and
 * what it called); `--skip-ms N` leaves out the first N ms (start-up).
 *
 *   node --import tsx scripts/cpu-profile-summary.ts FILE.cpuprofile [--top 40] [--by function|file] [--total] [--skip-ms N]
 */
import fs from "node:fs";
import { parseArgs } from "node:util";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "40" },
    by: { type: "string", default: "function" },
    total: { type: "boolean", default: false },
    "skip-ms": { type: "string", default: "0" },
  },
});
const file = positionals[0];
if (file === undefined) throw new Error("usage: cpu-profile-summary.ts FILE.cpuprofile [--top N] [--by function|file]");
const profile = JSON.parse(fs.readFileSync(file, "utf8")) as CpuProfile;

/** A short name for where a function lives: the path from node_modules/ or src/ on. */
function shortUrl(url: string): string {
  const at = Math.max(url.lastIndexOf("node_modules/"), url.lastIndexOf("/dist/"), url.lastIndexOf("/src/"));
  return at === -1 ? url : url.slice(at + 1);
}

const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const child of n.children ?? []) parent.set(child, n.id);
const keyOf = (node: ProfileNode): string => {
  const { functionName, url, lineNumber } = node.callFrame;
  return values.by === "file" ? shortUrl(url) || `(${functionName || "anonymous"})` : `${functionName || "(anonymous)"}  ${shortUrl(url)}:${lineNumber + 1}`;
};
const selfUs = new Map<string, number>();
const skipUs = Number(values["skip-ms"]) * 1000;
let at = profile.startTime;
let total = 0;
// Each sample's time is the delta that follows it (V8 records the gap before the next sample).
for (let i = 0; i < profile.samples.length; i++) {
  at += profile.timeDeltas[i] ?? 0;
  const us = profile.timeDeltas[i + 1] ?? 0;
  let node = byNode.get(profile.samples[i] ?? -1);
  if (node === undefined || at - profile.startTime < skipUs) continue;
  total += us;
  if (!values.total) {
    const key = keyOf(node);
    selfUs.set(key, (selfUs.get(key) ?? 0) + us);
    continue;
  }
  // Inclusive: every function on the stack once (recursion counted once).
  const seen = new Set<string>();
  while (node !== undefined) {
    const key = keyOf(node);
    if (!seen.has(key)) {
      seen.add(key);
      selfUs.set(key, (selfUs.get(key) ?? 0) + us);
    }
    const up = parent.get(node.id);
    node = up === undefined ? undefined : byNode.get(up);
  }
}

const idle = [...selfUs].filter(([k]) => k.startsWith("(idle)")).reduce((a, [, v]) => a + v, 0);
const busy = total - idle;
console.log(`profile ${(total / 1000).toFixed(0)} ms, idle ${(idle / 1000).toFixed(0)} ms, busy ${(busy / 1000).toFixed(0)} ms`);
const rows = [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, Number(values.top));
for (const [key, us] of rows) {
  const share = key.startsWith("(idle)") ? "" : `${((100 * us) / busy).toFixed(1).padStart(5)} % busy`;
  console.log(`${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / total).toFixed(1).padStart(5)} %  ${share.padEnd(12)} ${key}`);
}
