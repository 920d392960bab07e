/**
 * Single-stream decode, chatport against node-llama-cpp driven directly, side
 * by side: the same model file, threads, context and sampler settings, the
 * systems alternating round by round (a shared machine's noisy stretch then
 * hits both). Reports ms per token (the median gap between streamed tokens
 * and the mean over the whole decode) and tokens/s per round.
 *
 *   node --import tsx scripts/single-stream.ts --model FILE [--tokens 256]
 *     [--rounds 3] [--threads N] [--port 18400] [--cpu-prof DIR] [--trace-gc]
 *     [--variant NAME:VAR=VALUE …] [-- serve args…]
 *
 * Besides wall time it reports the CPU time per token of the decoding
 * process's JS thread and of its other threads (from /proc), which a busy
 * shared machine distorts far less than wall time, and for the direct runner
 * how long its JS takes from a sampled token to the next decode.
 * `--cpu-prof DIR` runs the server under `node --cpu-prof` (profile written to
 * DIR when it exits; read it with scripts/cpu-profile-summary.ts);
 * `--trace-gc` prints the server's garbage collections per run; each
 * `--variant` adds one more chatport server, run with that environment
 * variable (or, as `NAME:--flag=value`, that serve flag), to the rotation.
 */
import fs from "node:fs";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import OpenAI from "openai";
import { filler } from "../src/bench/prompts.js";
import { cliPath, launch, type ServerProcess } from "../src/bench/server-process.js";
import { defaultThreads, LLAMA_CMAKE_OPTIONS } from "../src/engines/llama/llama-runtime.js";

const split = process.argv.indexOf("--");
const { values } = parseArgs({
  args: process.argv.slice(2, split === -1 ? undefined : split),
  options: {
    model: { type: "string" },
    tokens: { type: "string", default: "256" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string" },
    port: { type: "string", default: "18400" },
    "cpu-prof": { type: "string" },
    "trace-gc": { type: "boolean", default: false },
    "node-arg": { type: "string", multiple: true, default: [] },
    variant: { type: "string", multiple: true, default: [] },
    "skip-direct": { type: "boolean", default: false },
    "skip-chatport": { type: "boolean", default: false },
  },
});
const serveArgs = split === -1 ? [] : process.argv.slice(split + 1);
if (values.model === undefined) throw new Error("--model FILE is required");
const modelPath = path.resolve(values.model);
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);
const threads = values.threads === undefined ? defaultThreads() : Number(values.threads);
const contextSize = 2048;
const sampler = { temperature: 0.7, topK: 40, topP: 0.95, minP: 0.05 };

/** CPU time (ms) of a process's threads, from /proc: its main thread (the JS thread) and all the others. */
function threadCpuMs(pid: number): { main: number; others: number } {
  const tick = 10; // USER_HZ 100
  let main = 0;
  let others = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ms = (Number(fields[11]) + Number(fields[12])) * tick;
      if (Number(tid) === pid) main += ms;
      else others += ms;
    } catch {
      // the thread ended meanwhile
    }
  }
  return { main, others };
}

interface Run {
  /** CPU ms per token of the JS thread and of the other threads (llama.cpp's) of the process that decodes. */
  cpu?: { main: number; others: number };
  msPerTokenP50: number;
  msPerTokenMean: number;
  tokensPerSecond: number;
}

function summarise(gaps: number[]): Run {
  const sorted = [...gaps].sort((a, b) => a - b);
  const total = gaps.reduce((a, b) => a + b, 0);
  const mean = total / gaps.length;
  return { msPerTokenP50: sorted[Math.floor(sorted.length / 2)] ?? NaN, msPerTokenMean: mean, tokensPerSecond: 1000 / mean };
}

function withCpu(run: Run, before: { main: number; others: number }, after: { main: number; others: number }, count: number): Run {
  return { ...run, cpu: { main: (after.main - before.main) / count, others: (after.others - before.others) / count } };
}

const llama = await getLlama({ gpu: false, build: "never", cmakeOptions: { ...LLAMA_CMAKE_OPTIONS }, logLevel: LlamaLogLevel.error, maxThreads: threads });
const model = await llama.loadModel({ modelPath });

async function direct(round: number): Promise<Run> {
  let tokenAt = 0;
  const jsGaps: number[] = [];
  const context = await model.createContext({ sequences: 1, contextSize, threads, flashAttention: true, batching: { itemPrioritizationStrategy: ({ items }) => {
    if (tokenAt) { jsGaps.push(performance.now() - tokenAt); tokenAt = 0; }
    return items.map((item) => ({ item, processAmount: item.tokens.length }));
  } } });
  try {
    const sequence = context.getSequence();
    const prompt = model.tokenize(filler(128, round));
    const gaps: number[] = [];
    let last: number | null = null;
    let count = 0;
    const before = threadCpuMs(process.pid);
    for await (const _token of sequence.evaluate(prompt, { ...sampler, seed: round + 1, yieldEogToken: true })) {
      const now = performance.now();
      tokenAt = now;
      if (last !== null) gaps.push(now - last);
      last = now;
      if (++count >= tokens) break;
    }
    jsGaps.sort((a, b) => a - b);
    console.log(`  direct token→next decode: p50 ${jsGaps[jsGaps.length >> 1]?.toFixed(3)} mean ${(jsGaps.reduce((a, b) => a + b, 0) / jsGaps.length).toFixed(3)} ms`);
    return withCpu(summarise(gaps), before, threadCpuMs(process.pid), count);
  } finally {
    await context.dispose();
  }
}

const port = Number(values.port);
const profileArgs = [
  ...(values["cpu-prof"] === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", path.resolve(values["cpu-prof"])]),
  ...(values["trace-gc"] ? ["--trace-gc"] : []),
  ...(values["node-arg"] ?? []),
];
/** Garbage collections a server reported (`--trace-gc`) since the last call: count and ms by kind. */
function gcSince(server: ServerProcess, seen: { lines: number }): string {
  const lines = server.logs.slice(seen.lines).filter((l) => /: (Scavenge|Mark-Compact|Minor Mark-Sweep|Mark-sweep)/i.test(l));
  seen.lines = server.logs.length;
  const kinds = new Map<string, { count: number; ms: number }>();
  for (const line of lines) {
    const kind = /: (Scavenge|Mark-Compact|Minor Mark-Sweep|Mark-sweep)/i.exec(line)?.[1] ?? "?";
    const ms = Number(/, ([\d.]+) \/ [\d.]+ ms/.exec(line)?.[1] ?? 0);
    const entry = kinds.get(kind) ?? { count: 0, ms: 0 };
    entry.count++;
    entry.ms += ms;
    kinds.set(kind, entry);
  }
  return [...kinds].map(([k, v]) => `${k} ×${v.count} ${v.ms.toFixed(1)} ms`).join(", ");
}

interface Chatport {
  name: string;
  server: ServerProcess;
  client: OpenAI;
  gc: { lines: number };
}

/** `chatport`, and one more server per `--variant NAME:VAR=VALUE` (the same server with that environment variable). */
async function startChatport(name: string, port: number, env: Record<string, string>, flags: string[] = []): Promise<Chatport> {
  const server = await launch(
    process.execPath,
    [...profileArgs, cliPath, "serve", "--host", "127.0.0.1", "--port", String(port), "--model", `m=${modelPath}`, "--threads", String(threads), "--parallel", "1", "--ctx", String(contextSize), "--db-path", `/tmp/chatport-single-stream-${port}.sqlite`, ...serveArgs, ...flags],
    { env: { CHATPORT_LOG_LEVEL: "warn", ...env }, baseURL: () => `http://127.0.0.1:${port}/v1`, healthPath: "/health" },
  );
  return { name, server, client: new OpenAI({ baseURL: server.baseURL, apiKey: "sk-none", maxRetries: 0 }), gc: { lines: 0 } };
}


async function chatport(system: Chatport, round: number): Promise<Run> {
  const body = {
    model: "m",
    messages: [{ role: "user" as const, content: filler(128, round) }],
    max_tokens: tokens,
    temperature: sampler.temperature,
    top_k: sampler.topK,
    top_p: sampler.topP,
    min_p: sampler.minP,
    seed: round + 1,
    ignore_eos: true,
    stream: true as const,
  };
  const pid = system.server.child.pid ?? 0;
  const before = threadCpuMs(pid);
  const stream = await system.client.chat.completions.create(body as OpenAI.ChatCompletionCreateParamsStreaming);
  const gaps: number[] = [];
  let last: number | null = null;
  for await (const chunk of stream) {
    if ((chunk.choices[0]?.delta.content ?? "") === "") continue;
    const now = performance.now();
    if (last !== null) gaps.push(now - last);
    last = now;
  }
  return withCpu(summarise(gaps), before, threadCpuMs(pid), gaps.length + 1);
}

const show = (name: string, round: number, run: Run): void =>
  console.log(`${name.padEnd(14)} round ${round}: ${run.msPerTokenP50.toFixed(2)} ms/token p50, ${run.msPerTokenMean.toFixed(2)} mean, ${run.tokensPerSecond.toFixed(1)} tok/s; CPU ms/token: JS thread ${run.cpu?.main.toFixed(2)}, others ${run.cpu?.others.toFixed(2)}`);
const results = new Map<string, Run[]>();
const chatports: Chatport[] = [];
try {
  // Inside the try: a server that fails to start never leaves the others running.
  if (!values["skip-chatport"]) chatports.push(await startChatport("chatport", port, {}));
  for (const [i, spec] of (values.variant ?? []).entries()) {
    const [name = "", assignment = ""] = spec.split(":");
    const [key = "", value = ""] = assignment.split("=");
    // NAME:--flag=value adds a serve flag (after the others, so it wins); NAME:VAR=value sets a variable.
    chatports.push(key.startsWith("--") ? await startChatport(name, port + 1 + i, {}, [key, value]) : await startChatport(name, port + 1 + i, { [key]: value }));
  }
  for (const system of chatports) await chatport(system, 100); // warm-up
  const systems: Array<Chatport | null> = [...(values["skip-direct"] ? [] : [null]), ...chatports];
  for (let round = 0; round < rounds; round++) {
    // Who goes first rotates round by round.
    const order = systems.map((_, i) => systems[(i + round) % systems.length] ?? null);
    for (const system of order) {
      const name = system?.name ?? "direct";
      if (system !== null) gcSince(system.server, system.gc);
      const run = system === null ? await direct(round) : await chatport(system, round);
      show(name, round, run);
      results.set(name, [...(results.get(name) ?? []), run]);
      if (system !== null && values["trace-gc"]) console.log(`  server GC: ${gcSince(system.server, system.gc) || "none"}`);
    }
  }
  console.log("\nmedian of rounds (min–max):");
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? NaN;
  const range = (xs: number[], digits: number): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
  for (const [name, runs] of results) {
    console.log(
      `${name.padEnd(14)} ${range(runs.map((r) => r.msPerTokenMean), 2)} ms/token, ${range(runs.map((r) => r.tokensPerSecond), 1)} tok/s, ` +
        `p50 gap ${range(runs.map((r) => r.msPerTokenP50), 2)} ms; JS thread ${range(runs.map((r) => r.cpu?.main ?? NaN), 2)} CPU ms/token`,
    );
  }
} finally {
  for (const system of chatports) {
    system.server.child.kill("SIGINT");
    await new Promise((resolve) => system.server.child.once("exit", resolve));
  }
  await model.dispose();
}
