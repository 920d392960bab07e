/**
 * The benchmark: node-llama-cpp driven directly, chatport over HTTP through
 * the `openai` SDK, and llama.cpp's `llama-server` when one is available —
 * measured side by side in one run, same model file, threads and context.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import OpenAI from "openai";
import { LLAMA_CMAKE_OPTIONS, type LlamaBuild } from "../engines/llama/llama-runtime.js";
import { measureDirect } from "./direct.js";
import { mappedBinary, mappedBinarySummary } from "./loaded-binary.js";
import { filler } from "./prompts.js";
import { summarise, type BenchReport, type LevelResult, type PromptResult } from "./report.js";
import { startChatport, startLlamaServer, type ServerProcess } from "./server-process.js";
import { median } from "./stats.js";
import { timedStream, type StreamSample } from "./stream-client.js";

/** The CHATPORT_* settings the chatport under test inherits (secrets left out), for the report. */
function chatportSettings(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (name.startsWith("CHATPORT_") && value !== undefined && !/KEY|SECRET|TOKEN|PASSWORD|URL/.test(name)) out[name] = value;
  }
  return out;
}

export interface BenchOptions {
  modelPath: string;
  llamaServer: string | null;
  threads: number;
  concurrency: number[];
  promptTokens: number;
  maxTokens: number;
  longPromptTokens: number;
  /** Context per sequence. */
  contextSize: number;
  skipDirect: boolean;
  /**
   * The chatport runs, one per `--llama-build` (default: `auto` alone). A
   * `native` run without a native build is left out with a note.
   */
  llamaBuilds?: readonly LlamaBuild[];
  /** Streams of a level start this many ms apart (0: all at once); HTTP systems only. */
  staggerMs?: number;
  progress: (line: string) => void;
}

interface HttpSystem {
  name: string;
  server: ServerProcess;
  client: OpenAI;
  model: string;
}

const staggered = (ms: number): Promise<void> => (ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve());

async function runLevel(
  system: HttpSystem,
  options: BenchOptions,
  concurrency: number,
  round: number,
  onTick: () => void,
): Promise<{ samples: StreamSample[]; wallMs: number; errors: string[] }> {
  const start = performance.now();
  const errors: string[] = [];
  const results = await Promise.all(
    Array.from({ length: concurrency }, (_, i) =>
      staggered(i * (options.staggerMs ?? 0))
        .then(() => timedStream(system.client, { model: system.model, prompt: filler(options.promptTokens, round * 1000 + i), maxTokens: options.maxTokens }))
        .catch((err: unknown) => {
          // A failed stream is reported, not fatal: the other systems still get measured.
          errors.push(err instanceof Error ? err.message : String(err));
          return null;
        })
        .finally(onTick),
    ),
  );
  return { samples: results.filter((r): r is StreamSample => r !== null), wallMs: performance.now() - start, errors };
}

async function promptPhase(system: HttpSystem, options: BenchOptions, salt: number): Promise<PromptResult> {
  const longPrompt = (s: number): string => filler(options.longPromptTokens, s);
  const cold: number[] = [];
  for (let i = 0; i < 3; i++) cold.push((await timedStream(system.client, { model: system.model, prompt: longPrompt(salt + i), maxTokens: 2 })).ttftMs);
  // Shared prefix: the same long system prompt, different questions.
  const shared = longPrompt(salt + 99);
  const warm: number[] = [];
  let cached = 0;
  for (let i = 0; i < 4; i++) {
    const sample = await timedStream(system.client, { model: system.model, prompt: `${shared}\nQuestion ${i}: why?`, maxTokens: 2 });
    if (i > 0) {
      warm.push(sample.ttftMs);
      cached = sample.cachedTokens;
    }
  }
  return { system: system.name, coldTtftMs: median(cold), warmTtftMs: median(warm), cachedTokens: cached };
}

function ratio(levels: readonly LevelResult[], a: string, b: string, c: number, key: "aggregateTps" | "perStreamTps"): number | null {
  const x = levels.find((l) => l.system === a && l.concurrency === c)?.[key];
  const y = levels.find((l) => l.system === b && l.concurrency === c)?.[key];
  return x === undefined || y === undefined ? null : x / y;
}

/** `chatport` for the one default run; `chatport prebuilt`, `chatport native` when the builds are chosen. */
function chatportName(builds: readonly LlamaBuild[], build: LlamaBuild): string {
  return builds.length === 1 && build === "auto" ? "chatport" : `chatport ${build}`;
}

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { progress } = options;
  const maxConcurrency = Math.max(...options.concurrency);
  const levels: LevelResult[] = [];
  const prompts: PromptResult[] = [];
  const memory: BenchReport["memory"] = [];
  let directBinary: string | null = null;

  if (!options.skipDirect) {
    progress("node-llama-cpp direct: loading the model");
    const llama = await getLlama({ gpu: false, build: "never", cmakeOptions: { ...LLAMA_CMAKE_OPTIONS }, logLevel: LlamaLogLevel.error, maxThreads: options.threads });
    const model = await llama.loadModel({ modelPath: options.modelPath });
    directBinary = `${llama.buildType === "prebuilt" ? "prebuilt" : "native build"} (llama.cpp ${llama.llamaCppRelease.release}), in the bench process`;
    try {
      for (const [round, c] of options.concurrency.entries()) {
        progress(`node-llama-cpp direct: ${c} stream(s)`);
        const start = performance.now();
        const samples = await measureDirect(model, { threads: options.threads, contextSize: options.contextSize, promptTokens: options.promptTokens, maxTokens: options.maxTokens }, c, round);
        levels.push(summarise("node-llama-cpp", c, samples, performance.now() - start));
      }
    } finally {
      await model.dispose();
    }
  }

  // The chatport under test meters into a throwaway ledger, never the one of the checkout it runs in.
  const ledgerDir = fs.mkdtempSync(path.join(os.tmpdir(), "chatport-bench-ledger-"));
  const builds = options.llamaBuilds ?? ["auto"];
  const systems: Array<{ name: string; start: () => Promise<ServerProcess>; model: string; optional?: boolean }> = builds.map((build, i) => ({
    name: chatportName(builds, build),
    model: "bench",
    // Forcing the native build is asking whether there is one: without, that run is skipped.
    optional: build === "native",
    start: () =>
      startChatport([
        "--model", `bench=${options.modelPath}`,
        "--db-path", path.join(ledgerDir, `chatport-${i}.sqlite`),
        "--threads", String(options.threads),
        "--parallel", String(maxConcurrency),
        "--ctx", String(options.contextSize),
        "--max-waiting", "256",
        "--llama-build", build,
      ], { CHATPORT_LOG_LEVEL: "warn" }),
  }));
  if (options.llamaServer !== null) {
    const binary = options.llamaServer;
    systems.push({
      name: "llama-server",
      model: "bench",
      start: () =>
        startLlamaServer(binary, [
          "-m", options.modelPath,
          "-t", String(options.threads),
          "-np", String(maxConcurrency),
          "-c", String(options.contextSize * maxConcurrency),
          "--alias", "bench",
          // Plain ChatML rendering: llama-server's Jinja path parses tool-call syntax out of
          // the output and rejects what a random-weight model writes.
          "--no-jinja",
        ]),
    });
  }

  // Every HTTP system is up for the whole run and the levels alternate between
  // them (the first to go rotates per level), so a noisy stretch on a shared
  // machine hits both alike rather than one system's whole series.
  const running: Array<{ system: HttpSystem; idleRss: number; peakRss: number }> = [];
  const binaries: Record<string, string> = directBinary === null ? {} : { "node-llama-cpp": directBinary };
  let sampler: NodeJS.Timeout | undefined;
  try {
    for (const spec of systems) {
      progress(`${spec.name}: starting`);
      let server: ServerProcess;
      try {
        server = await spec.start();
      } catch (err) {
        if (spec.optional !== true) throw err;
        progress(`${spec.name}: not measured: ${(err instanceof Error ? err.message : String(err)).split("\n").find((l) => l.includes("--llama-build")) ?? String(err)}`);
        continue;
      }
      if (spec.name.startsWith("chatport")) {
        binaries[spec.name] = mappedBinarySummary(mappedBinary(server.child.pid));
        progress(`${spec.name}: llama.cpp binary: ${binaries[spec.name]}`);
      } else {
        binaries[spec.name] = options.llamaServer ?? "–";
      }
      const system: HttpSystem = { name: spec.name, server, client: new OpenAI({ baseURL: server.baseURL, apiKey: "sk-bench", maxRetries: 0, timeout: 600_000 }), model: spec.model };
      running.push({ system, idleRss: 0, peakRss: 0 });
      await timedStream(system.client, { model: system.model, prompt: "warm up", maxTokens: 4 });
    }
    for (const r of running) r.idleRss = r.peakRss = r.system.server.rss();
    sampler = setInterval(() => {
      for (const r of running) r.peakRss = Math.max(r.peakRss, r.system.server.rss());
    }, 100);
    for (const [round, c] of options.concurrency.entries()) {
      // A level of one or two streams is a short sample (63 gaps at one stream):
      // such levels run in several rounds, the systems alternating, and pool them.
      const reps = Math.max(1, Math.ceil(4 / c));
      const pooled = new Map<string, { samples: StreamSample[]; wallMs: number; failed: number }>();
      for (let rep = 0; rep < reps; rep++) {
        const order = running.map((_, i) => running[(i + round + rep) % running.length] as (typeof running)[number]);
        for (const { system } of order) {
          let done = 0;
          progress(`${system.name}: ${c} stream(s)${reps > 1 ? ` (round ${rep + 1} of ${reps})` : ""}`);
          // Distinct prompts per level and round (never a prefix of the long-prompt runs' salts).
          const { samples, wallMs, errors } = await runLevel(system, options, c, 100 + round * 10 + rep, () => {
            done++;
            if (c >= 4) progress(`${system.name}: ${c} stream(s) — ${done}/${c} done`);
          });
          for (const error of errors) progress(`${system.name}: a stream failed: ${error}`);
          const into = pooled.get(system.name) ?? { samples: [], wallMs: 0, failed: 0 };
          into.samples.push(...samples);
          into.wallMs += wallMs;
          into.failed += errors.length;
          pooled.set(system.name, into);
        }
      }
      for (const [name, p] of pooled) levels.push({ ...summarise(name, c, p.samples, p.wallMs), failedStreams: p.failed });
    }
    clearInterval(sampler);
    for (const r of running) {
      memory.push({ system: r.system.name, idleRssMB: r.idleRss / 2 ** 20, peakRssMB: r.peakRss / 2 ** 20, beyondIdleMB: (r.peakRss - r.idleRss) / 2 ** 20 });
    }
    for (const { system } of running) {
      progress(`${system.name}: long prompts and a shared prefix`);
      try {
        prompts.push(await promptPhase(system, options, 50_000));
      } catch (err) {
        progress(`${system.name}: the prompt runs failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    clearInterval(sampler);
    for (const { system } of running) await system.server.stop();
    fs.rmSync(ledgerDir, { recursive: true, force: true });
  }
  // Rows grouped by system (in the order they were started), then by level.
  const rank = (name: string): number => ["node-llama-cpp", ...systems.map((s) => s.name)].indexOf(name);
  levels.sort((x, y) => rank(x.system) - rank(y.system) || x.concurrency - y.concurrency);

  const ratios: Record<string, number> = {};
  const chatports = running.map((r) => r.system.name).filter((name) => name.startsWith("chatport"));
  for (const c of options.concurrency) {
    for (const [key, label] of [["aggregateTps", "aggregate"], ["perStreamTps", "per-stream"]] as const) {
      for (const name of chatports) {
        const vsServer = ratio(levels, name, "llama-server", c, key);
        if (vsServer !== null) ratios[`${name}/llama-server ${label} tok/s @${c}`] = vsServer;
        const vsDirect = ratio(levels, name, "node-llama-cpp", c, key);
        if (vsDirect !== null) ratios[`${name}/node-llama-cpp ${label} tok/s @${c}`] = vsDirect;
      }
      const [first, second] = chatports;
      if (first !== undefined && second !== undefined) {
        const between = ratio(levels, first, second, c, key);
        if (between !== null) ratios[`${first}/${second} ${label} tok/s @${c}`] = between;
      }
    }
  }
  const theirs = prompts.find((p) => p.system === "llama-server");
  for (const name of chatports) {
    const ours = prompts.find((p) => p.system === name);
    if (ours !== undefined && theirs !== undefined) ratios[`${name}/llama-server cold TTFT (long prompt)`] = ours.coldTtftMs / theirs.coldTtftMs;
    if (ours?.warmTtftMs != null) ratios[`${name} warm/cold TTFT (shared prefix)`] = ours.warmTtftMs / ours.coldTtftMs;
  }

  return {
    date: new Date().toISOString(),
    machine: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? "unknown", threads: options.threads },
    config: {
      modelPath: options.modelPath,
      promptTokens: options.promptTokens,
      maxTokens: options.maxTokens,
      longPromptTokens: options.longPromptTokens,
      concurrency: options.concurrency,
      staggerMs: options.staggerMs ?? 0,
      chatportEnv: chatportSettings(),
    },
    levels,
    prompts,
    memory,
    ratios,
    binaries,
  };
}
