/**
 * `chatport bench structured`: what a grammar costs while decoding. One
 * chatport process serves the model; every round sends the same prompt
 * unconstrained and under each kind of grammar (a JSON schema whose strings
 * run long, one with many short fields, forced tool calls, JSON mode), the
 * modes alternating so that they share the machine's noise, and reads each
 * token's decode time from the server itself (`usage_timings`). Requests
 * go round-robin over the modes, and a mode's rate is 1 / the median gap
 * between its tokens, which a busy machine's bursts move least. Beside it,
 * the server process's CPU time per completion token (from /proc, all its
 * threads), which other work on a shared machine moves much less than wall
 * time: with one thread, what a token costs. The report
 * gives each mode's rate against the unconstrained one, with and without
 * logprobs (asking for probabilities makes node-llama-cpp apply the grammar
 * to the whole vocabulary at every token) and with and without the grammar
 * boost (a repetition penalty switches it off), and the server's own grammar
 * metrics: compiles and their time, and constrained outputs checked (an
 * invalid one would be a bug).
 */
import fs from "node:fs";
import path from "node:path";
import { median, percentile } from "./stats.js";
import { startChatport } from "./server-process.js";

export interface StructuredBenchOptions {
  modelPath: string;
  threads: number;
  /** max_tokens of each request. */
  maxTokens: number;
  rounds: number;
  /** Requests per mode per round (seeds 1…n). */
  seeds: number;
  progress: (line: string) => void;
}

interface Mode {
  name: string;
  /** The unconstrained mode this one is compared with. */
  baseline: string;
  body: Record<string, unknown>;
}

const longStrings = {
  type: "object",
  properties: { name: { type: "string" }, biography: { type: "string" }, hobbies: { type: "array", items: { type: "string" } } },
  required: ["name", "biography", "hobbies"],
  additionalProperties: false,
};

/** Short strings, enums, numbers, booleans, nesting: many structural tokens, where a random model's token is rejected. */
const shortFields = {
  type: "object",
  properties: {
    id: { type: "integer" },
    code: { type: "string", maxLength: 6 },
    kind: { enum: ["alpha", "beta", "gamma", "delta"] },
    active: { type: "boolean" },
    score: { type: "number" },
    tags: { type: "array", items: { type: "string", maxLength: 5 }, maxItems: 4 },
    point: { type: "object", properties: { x: { type: "integer" }, y: { type: "integer" } }, required: ["x", "y"], additionalProperties: false },
    note: { anyOf: [{ type: "string", maxLength: 8 }, { type: "null" }] },
  },
  required: ["id", "code", "kind", "active", "score", "tags", "point", "note"],
  additionalProperties: false,
};

const jsonSchema = (name: string, schema: object): Record<string, unknown> => ({ response_format: { type: "json_schema", json_schema: { name, schema, strict: true } } });

/** A repetition penalty too small to change a pick, but not 1: the request gets no grammar boost. */
const noBoostPenalty = 1.0001;

/** More than any vocabulary: llama.cpp caps it at the vocabulary size. */
const wholeVocabulary = 1_000_000;

/** The forced tool call's tool, strict: its arguments are the short-fields schema. */
const recordTool = (strict: boolean): Record<string, unknown> => ({ type: "function", function: { name: "record", parameters: shortFields, strict } });

const modes: readonly Mode[] = [
  { name: "text", baseline: "text", body: {} },
  // The forced call's prompt holds the tool's definition (hundreds of tokens against the other modes' 23): its prefill and a longer
  // context cost every token, grammar or not. This baseline has the same prompt and no grammar (a tool that is not strict, left to
  // the model, which does not call it).
  { name: "text, tool in the prompt", baseline: "text, tool in the prompt", body: { tools: [recordTool(false)], tool_choice: "auto" } },
  { name: "json_schema, long strings", baseline: "text", body: jsonSchema("long", longStrings) },
  { name: "json_schema, short fields", baseline: "text", body: jsonSchema("short", shortFields) },
  { name: "tool_choice required", baseline: "text, tool in the prompt", body: { tools: [recordTool(true)], tool_choice: "required" } },
  { name: "json_object", baseline: "text", body: { response_format: { type: "json_object" } } },
  // A top_k of at least the vocabulary is what a top_k of 0 was until chatport left the sampler out: a sort of every candidate at every token.
  { name: "text, top_k = vocabulary", baseline: "text", body: { top_k: wholeVocabulary } },
  { name: "json_schema, short fields, top_k = vocabulary", baseline: "text", body: { ...jsonSchema("short", shortFields), top_k: wholeVocabulary } },
  // A repetition penalty switches the grammar boost off (grammar-sampling-bias.ts): what every grammar cost before it, in the same run.
  { name: "text, repetition_penalty", baseline: "text, repetition_penalty", body: { repetition_penalty: noBoostPenalty } },
  { name: "json_schema, short fields, no boost (repetition_penalty)", baseline: "text, repetition_penalty", body: { ...jsonSchema("short", shortFields), repetition_penalty: noBoostPenalty } },
  { name: "text + logprobs", baseline: "text + logprobs", body: { logprobs: true } },
  { name: "json_schema, short fields + logprobs", baseline: "text + logprobs", body: { ...jsonSchema("short", shortFields), logprobs: true } },
];

export interface ModeResult {
  name: string;
  baseline: string;
  /** Decode tokens/s of each round (1000 / the median gap between tokens). */
  rounds: number[];
  /** Decode tokens/s over all rounds. */
  tokensPerSecond: number;
  /** The median and 90th percentile gap between tokens, ms. */
  medianGapMs: number;
  p90GapMs: number;
  /** This mode's rate / the baseline's. */
  ratio: number;
  /** The server's CPU ms per completion token: the median over requests, and each round's median. */
  cpuMsPerToken: number;
  cpuRounds: number[];
  /** The baseline's CPU ms per token / this mode's. */
  cpuRatio: number;
  /** Mean completion tokens per request. */
  meanTokens: number;
  finishReasons: Record<string, number>;
}

export interface StructuredBenchReport {
  kind: "structured";
  date: string;
  model: string;
  threads: number;
  maxTokens: number;
  rounds: number;
  seeds: number;
  modes: ModeResult[];
  /** From the server's /metrics at the end. */
  server: { grammarCompiles: number; grammarCompileSeconds: number; cacheHits: number; outputsValid: number; outputsInvalid: number; non200: number };
}

interface Measured {
  /** ms between consecutive tokens. */
  gaps: number[];
  finish: string;
  /** The server process's CPU ms per completion token during the request (NaN where /proc is not there). */
  cpuMsPerToken: number;
}

/** CPU time a process has used, ms (user + system, all threads), or NaN without /proc. */
function cpuMsOf(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (in parentheses, which may hold spaces): utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
  } catch {
    return Number.NaN;
  }
}

/** Linux's USER_HZ, what /proc/PID/stat counts in on every architecture Node runs on. */
const clockTicksPerSecond = 100;

async function measure(baseURL: string, pid: number | undefined, mode: Mode, maxTokens: number, seed: number): Promise<Measured | null> {
  const cpuBefore = cpuMsOf(pid);
  const res = await fetch(`${baseURL}/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "bench",
      messages: [{ role: "user", content: "Describe a person as JSON." }],
      max_tokens: maxTokens,
      seed,
      usage_timings: true,
      ...mode.body,
    }),
  });
  const body = (await res.json()) as { choices?: Array<{ finish_reason: string }>; usage?: { completion_tokens: number; decode_time_arr?: number[] } };
  if (res.status !== 200 || body.usage === undefined) return null;
  const cpuMs = cpuMsOf(pid) - cpuBefore;
  return { gaps: body.usage.decode_time_arr ?? [], finish: body.choices?.[0]?.finish_reason ?? "?", cpuMsPerToken: cpuMs / Math.max(1, body.usage.completion_tokens) };
}

function metric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

export async function runStructuredBench(options: StructuredBenchOptions): Promise<StructuredBenchReport> {
  const server = await startChatport(["--model", `bench=${options.modelPath}`, "--threads", String(options.threads), "--parallel", "1", "--ctx", String(Math.max(1024, options.maxTokens + 256))]);
  const perRound = new Map<string, Measured[][]>(modes.map((m) => [m.name, []]));
  let non200 = 0;
  try {
    // One unmeasured request per mode: grammars compiled, caches warm.
    for (const mode of modes) await measure(server.baseURL, server.child.pid, mode, 8, 1);
    for (let round = 0; round < options.rounds; round++) {
      const samples = new Map<string, Measured[]>(modes.map((m) => [m.name, []]));
      // Round-robin: the modes share whatever else the machine is doing.
      for (let seed = 1; seed <= options.seeds; seed++) {
        for (const mode of modes) {
          const sample = await measure(server.baseURL, server.child.pid, mode, options.maxTokens, 1000 * round + seed);
          if (sample === null) non200++;
          else samples.get(mode.name)!.push(sample);
        }
      }
      for (const mode of modes) {
        perRound.get(mode.name)!.push(samples.get(mode.name)!);
        options.progress(`round ${round + 1}/${options.rounds} ${mode.name}: ${rateOf(samples.get(mode.name)!).toFixed(1)} tokens/s, ${cpuOf(samples.get(mode.name)!).toFixed(1)} CPU ms/token`);
      }
    }
    const metrics = await (await fetch(server.baseURL.replace(/\/v1$/, "/metrics"))).text();
    const results = modes.map((mode): ModeResult => {
      const rounds = perRound.get(mode.name)!;
      const base = perRound.get(mode.baseline)!;
      const all = rounds.flat();
      const finishReasons: Record<string, number> = {};
      for (const s of all) finishReasons[s.finish] = (finishReasons[s.finish] ?? 0) + 1;
      const gaps = all.flatMap((s) => s.gaps);
      return {
        name: mode.name,
        baseline: mode.baseline,
        rounds: rounds.map(rateOf),
        tokensPerSecond: rateOf(all),
        medianGapMs: median(gaps),
        p90GapMs: percentile(gaps, 90),
        ratio: rateOf(all) / rateOf(base.flat()),
        cpuMsPerToken: cpuOf(all),
        cpuRounds: rounds.map(cpuOf),
        cpuRatio: cpuOf(base.flat()) / cpuOf(all),
        meanTokens: all.reduce((a, s) => a + s.gaps.length + 1, 0) / Math.max(1, all.length),
        finishReasons,
      };
    });
    return {
      kind: "structured",
      date: new Date().toISOString(),
      model: path.basename(options.modelPath),
      threads: options.threads,
      maxTokens: options.maxTokens,
      rounds: options.rounds,
      seeds: options.seeds,
      modes: results,
      server: {
        grammarCompiles: metric(metrics, "chatport_grammar_compile_seconds_count"),
        grammarCompileSeconds: metric(metrics, "chatport_grammar_compile_seconds_sum"),
        cacheHits: metric(metrics, "chatport_grammar_cache_lookups_total", { result: "hit" }),
        outputsValid: metric(metrics, "chatport_structured_output_checks_total", { result: "valid" }),
        outputsInvalid: metric(metrics, "chatport_structured_output_checks_total", { result: "invalid" }),
        non200,
      },
    };
  } finally {
    await server.stop();
  }
}

/** Decode tokens/s over samples: 1000 / the median gap between tokens. */
function rateOf(samples: readonly Measured[]): number {
  const gap = median(samples.flatMap((s) => s.gaps));
  return gap > 0 ? 1000 / gap : Number.NaN;
}

/** The median of the requests' server CPU ms per completion token. */
function cpuOf(samples: readonly Measured[]): number {
  return median(samples.map((s) => s.cpuMsPerToken).filter((x) => Number.isFinite(x)));
}

export function structuredTable(report: StructuredBenchReport): string {
  const lines = [
    `${report.model}, ${report.threads} thread(s), max_tokens ${report.maxTokens}, ${report.rounds} rounds × ${report.seeds} requests per mode`,
    "",
    "| mode | decode tokens/s | per round | gap p50 / p90 ms | vs unconstrained | server CPU ms/token (per round) | vs unconstrained, CPU | mean tokens | finish |",
    "|---|---:|---|---:|---:|---:|---:|---:|---|",
    ...report.modes.map(
      (m) =>
        `| ${m.name} | ${m.tokensPerSecond.toFixed(1)} | ${m.rounds.map((r) => r.toFixed(1)).join(", ")} | ${m.medianGapMs.toFixed(1)} / ${m.p90GapMs.toFixed(1)} | ${m.name === m.baseline ? "—" : `${m.ratio.toFixed(2)}× (${m.baseline})`} | ${m.cpuMsPerToken.toFixed(1)} (${m.cpuRounds.map((r) => r.toFixed(1)).join(", ")}) | ${m.name === m.baseline ? "—" : `${m.cpuRatio.toFixed(2)}×`} | ${m.meanTokens.toFixed(0)} | ${Object.entries(m.finishReasons)
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")} |`,
    ),
    "",
    `Server: ${report.server.grammarCompiles} grammar compiles (${(report.server.grammarCompileSeconds * 1000).toFixed(1)} ms in all), ${report.server.cacheHits} cache hits; constrained outputs checked: ${report.server.outputsValid} valid, ${report.server.outputsInvalid} invalid; ${report.server.non200} non-200 answers.`,
  ];
  return lines.join("\n");
}

export function writeStructuredReport(report: StructuredBenchReport, dir: string): { json: string; markdown: string } {
  fs.mkdirSync(dir, { recursive: true });
  const stamp = report.date.replace(/[:.]/g, "-");
  const json = path.join(dir, `structured-${stamp}.json`);
  const markdown = path.join(dir, `structured-${stamp}.md`);
  fs.writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  fs.writeFileSync(markdown, `# Grammar-constrained decoding\n\n${structuredTable(report)}\n`);
  return { json, markdown };
}
