/**
 * The benchmark: node-llama-cpp driven directly, chatport over HTTP through
 * the `openai` SDK, and llama.cpp's `llama-server` when one is available —
 * measured side by side in one run, same model file, threads and context.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import OpenAI from "openai";
import { measureDirect } from "./direct.js";
import { filler } from "./prompts.js";
import { summarise, type BenchReport, type LevelResult, type PromptResult } from "./report.js";
import { startChatport, startLlamaServer, type ServerProcess } from "./server-process.js";
import { median } from "./stats.js";
import { timedStream, type StreamSample } from "./stream-client.js";

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
  progress: (line: string) => void;
}

interface HttpSystem {
  name: string;
  server: ServerProcess;
  client: OpenAI;
  model: string;
}

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
      timedStream(system.client, { model: system.model, prompt: filler(options.promptTokens, round * 1000 + i), maxTokens: options.maxTokens })
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

export async function runBench(options: BenchOptions): Promise<BenchReport> {
  const { progress } = options;
  const maxConcurrency = Math.max(...options.concurrency);
  const levels: LevelResult[] = [];
  const prompts: PromptResult[] = [];
  const memory: BenchReport["memory"] = [];

  if (!options.skipDirect) {
    progress("node-llama-cpp direct: loading the model");
    const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error, maxThreads: options.threads });
    const model = await llama.loadModel({ modelPath: options.modelPath });
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

  const systems: Array<{ name: string; start: () => Promise<ServerProcess>; model: string }> = [
    {
      name: "chatport",
      model: "bench",
      start: () =>
        startChatport([
          "--model", `bench=${options.modelPath}`,
          "--threads", String(options.threads),
          "--parallel", String(maxConcurrency),
          "--ctx", String(options.contextSize),
          "--max-waiting", "256",
        ], { CHATPORT_LOG_LEVEL: "warn" }),
    },
  ];
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

  for (const spec of systems) {
    progress(`${spec.name}: starting`);
    const server = await spec.start();
    const system: HttpSystem = { name: spec.name, server, client: new OpenAI({ baseURL: server.baseURL, apiKey: "sk-bench", maxRetries: 0, timeout: 600_000 }), model: spec.model };
    try {
      await timedStream(system.client, { model: system.model, prompt: "warm up", maxTokens: 4 });
      const idleRss = server.rss();
      let peakRss = idleRss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, server.rss())), 100);
      try {
        for (const [round, c] of options.concurrency.entries()) {
          let done = 0;
          progress(`${spec.name}: ${c} stream(s)`);
          const { samples, wallMs, errors } = await runLevel(system, options, c, round + 1, () => {
            done++;
            if (c >= 4) progress(`${spec.name}: ${c} stream(s) — ${done}/${c} done`);
          });
          for (const error of errors) progress(`${spec.name}: a stream failed: ${error}`);
          levels.push({ ...summarise(spec.name, c, samples, wallMs), failedStreams: errors.length });
        }
      } finally {
        clearInterval(sampler);
      }
      memory.push({ system: spec.name, idleRssMB: idleRss / 2 ** 20, peakRssMB: peakRss / 2 ** 20, beyondIdleMB: (peakRss - idleRss) / 2 ** 20 });
      progress(`${spec.name}: long prompts and a shared prefix`);
      try {
        prompts.push(await promptPhase(system, options, 50_000));
      } catch (err) {
        progress(`${spec.name}: the prompt runs failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    } finally {
      await server.stop();
    }
  }

  const ratios: Record<string, number> = {};
  for (const c of options.concurrency) {
    for (const [key, label] of [["aggregateTps", "aggregate"], ["perStreamTps", "per-stream"]] as const) {
      const vsServer = ratio(levels, "chatport", "llama-server", c, key);
      if (vsServer !== null) ratios[`chatport/llama-server ${label} tok/s @${c}`] = vsServer;
      const vsDirect = ratio(levels, "chatport", "node-llama-cpp", c, key);
      if (vsDirect !== null) ratios[`chatport/node-llama-cpp ${label} tok/s @${c}`] = vsDirect;
    }
  }
  const ours = prompts.find((p) => p.system === "chatport");
  const theirs = prompts.find((p) => p.system === "llama-server");
  if (ours !== undefined && theirs !== undefined) ratios["chatport/llama-server cold TTFT (long prompt)"] = ours.coldTtftMs / theirs.coldTtftMs;
  if (ours?.warmTtftMs != null) ratios["chatport warm/cold TTFT (shared prefix)"] = ours.warmTtftMs / ours.coldTtftMs;

  return {
    date: new Date().toISOString(),
    machine: { cpus: os.availableParallelism(), model: os.cpus()[0]?.model ?? "unknown", threads: options.threads },
    config: {
      modelPath: options.modelPath,
      promptTokens: options.promptTokens,
      maxTokens: options.maxTokens,
      longPromptTokens: options.longPromptTokens,
      concurrency: options.concurrency,
    },
    levels,
    prompts,
    memory,
    ratios,
  };
}
