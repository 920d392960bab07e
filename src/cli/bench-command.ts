/** `chatport bench` (and `npm run bench`): the side-by-side benchmark. */
import fs from "node:fs";
import path from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { defaultGatewayBenchOptions, gatewayTable, PHASES, type PhaseName, profileTable, runGatewayBench, writeGatewayReport } from "../bench/gateway-bench.js";
import type * as BenchReport from "../bench/report.js";
import type { runBench as runBenchFn } from "../bench/run-bench.js";
import { defaultThreads, LLAMA_BUILDS, type LlamaBuild } from "../engines/llama/llama-runtime.js";
import { TEST_MODEL_TYPES, writeTestModel, type TestModelType } from "../gguf/test-model.js";

interface BenchFlags {
  model?: string;
  type: TestModelType;
  /** A path, false for --no-llama-server, undefined to look for a local build. */
  llamaServer?: string | false;
  threads?: number;
  concurrency: string;
  promptTokens: number;
  maxTokens: number;
  longPrompt: number;
  ctx: number;
  skipDirect?: boolean;
  llamaBuilds: LlamaBuild[];
  staggerMs: number;
  quick?: boolean;
  out: string;
}

const int = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};

const seconds = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number of seconds");
  return n;
};

const nonNegative = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("must be a number, 0 or more");
  return n;
};

/**
 * The side-by-side bench drives its systems with the `openai` SDK, a
 * devDependency: it is loaded only when that bench runs, so that every other
 * command works from a production install (`npm ci --omit=dev`).
 */
async function loadSideBySideBench(): Promise<{ runBench: typeof runBenchFn; report: typeof BenchReport }> {
  try {
    const [{ runBench }, report] = await Promise.all([import("../bench/run-bench.js"), import("../bench/report.js")]);
    return { runBench, report };
  } catch (err) {
    if ((err as { code?: unknown }).code !== "ERR_MODULE_NOT_FOUND") throw err;
    throw new Error(`chatport bench needs the development dependencies (npm install without --omit=dev): ${(err as Error).message}`, { cause: err });
  }
}

const progress = (line: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
};

/** The qwen2.5-0.5b-shaped test model, generated once into .cache/. */
async function benchModel(type: TestModelType): Promise<string> {
  const out = path.resolve(".cache", "bench-models", `qwen2.5-0.5b-${type}-seed1.gguf`);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  let next = 0;
  await writeTestModel({
    out,
    shape: "qwen2.5-0.5b",
    seed: 1,
    type,
    onProgress: (done, total) => {
      if (done < next) return;
      next = done + total / 10;
      progress(`generating ${path.basename(out)}: ${Math.round((100 * done) / total)}%`);
    },
  });
  return out;
}

/** A llama-server built from node-llama-cpp's bundled llama.cpp (see docs/BENCHMARKS.md), if present. */
function findLlamaServer(): string | null {
  const local = path.resolve(".cache", "llama.cpp", "src", "build", "bin", "llama-server");
  return fs.existsSync(local) ? local : null;
}

interface GatewayFlags {
  rate: number;
  duration: number;
  slice: number;
  warmup: number;
  concurrency: number;
  streamConcurrency: number;
  streamTokens: number;
  maxTokens: number;
  streamChunkDelay: number;
  pacedChunkDelay: number;
  keyGateway: boolean;
  portkey: boolean;
  bareProxy: boolean;
  profile?: string;
  logLevel: "warn" | "info";
  phases: PhaseName[];
  out: string;
}

/** `--llama-builds prebuilt,native`: one chatport run per build, side by side. */
const llamaBuildList = (value: string): LlamaBuild[] => {
  const builds = value.split(",").map((b) => b.trim());
  const unknown = builds.filter((b) => !(LLAMA_BUILDS as readonly string[]).includes(b));
  if (unknown.length > 0 || builds.length === 0) throw new InvalidArgumentError(`unknown build ${unknown.join(", ")} (builds: ${LLAMA_BUILDS.join(", ")})`);
  return LLAMA_BUILDS.filter((b) => builds.includes(b));
};

const phaseList = (value: string): PhaseName[] => {
  const phases = value.split(",").map((p) => p.trim());
  const unknown = phases.filter((p) => !(PHASES as readonly string[]).includes(p));
  if (unknown.length > 0) throw new InvalidArgumentError(`unknown phase ${unknown.join(", ")} (phases: ${PHASES.join(", ")})`);
  return PHASES.filter((p) => phases.includes(p));
};

const logLevelFlag = (value: string): "warn" | "info" => {
  if (value !== "warn" && value !== "info") throw new InvalidArgumentError("must be warn or info");
  return value;
};

/**
 * The program parses options before it knows the subcommand, so in
 * `chatport bench gateway --concurrency 8 --out dir` the options `bench`
 * also has (--concurrency, --max-tokens, --out) land on `bench`: take them
 * from there when they were given on the command line.
 */
function withBenchOptions(flags: GatewayFlags, command: Command): GatewayFlags {
  const parent = command.parent;
  if (parent === null) return flags;
  const given = (name: string): boolean => parent.getOptionValueSource(name) === "cli";
  const values = parent.opts<BenchFlags>();
  return {
    ...flags,
    ...(given("concurrency") ? { concurrency: int(values.concurrency) } : {}),
    ...(given("maxTokens") ? { maxTokens: values.maxTokens } : {}),
    ...(given("out") ? { out: values.out } : {}),
  };
}

/** `chatport bench gateway` (and `npm run bench -- gateway`): chatport in front of a fast fake upstream vs the upstream directly. */
function gatewayBenchCommand(): Command {
  const d = defaultGatewayBenchOptions;
  return new Command("gateway")
    .description("added latency and max throughput of chatport in front of a fast fake upstream, against the upstream called directly")
    .option("--rate <n>", "open-loop non-streaming requests/s", int, d.rate)
    .option("--duration <s>", "seconds measured per system and phase", seconds, d.durationS)
    .option("--slice <s>", "systems alternate every this many seconds", seconds, d.sliceS)
    .option("--warmup <s>", "seconds of unmeasured load per system first", nonNegative, d.warmupS)
    .option("--concurrency <n>", "closed-loop concurrent clients (max throughput)", int, d.concurrency)
    .option("--stream-concurrency <n>", "concurrent streams", int, d.streamConcurrency)
    .option("--stream-tokens <n>", "chunks per stream", int, d.streamTokens)
    .option("--max-tokens <n>", "completion tokens per non-streaming request", int, d.maxTokens)
    .option("--stream-chunk-delay <ms>", "the upstream waits this long between stream chunks (0: flat out)", nonNegative, d.streamChunkDelayMs)
    .option("--paced-chunk-delay <ms>", "paced streaming: the upstream waits this long between chunks", nonNegative, d.pacedChunkDelayMs)
    .option("--no-key-gateway", "skip the gateway that requires a managed API key")
    .option("--no-portkey", "skip Portkey's open-source gateway (@portkey-ai/gateway), the peer measured beside chatport")
    .option("--no-bare-proxy", "skip the floor: a bare fastify + undici proxy with no gateway work")
    .option("--profile <dir>", "run the gateways under --cpu-prof, write the profiles here and summarise them (slower: numbers not comparable)")
    .option("--log-level <level>", "the gateways' log level: warn (nothing per request) or info (one line per request)", logLevelFlag, d.logLevel)
    .option("--phases <list>", `phases to run, comma-separated (default: ${PHASES.join(",")})`, phaseList, [...PHASES])
    .option("--out <dir>", "where the JSON / Markdown reports go", "bench/results")
    .action(async (given: GatewayFlags, command: Command) => {
      const flags = withBenchOptions(given, command);
      const report = await runGatewayBench({
        rate: flags.rate,
        durationS: flags.duration,
        sliceS: Math.min(flags.slice, flags.duration),
        warmupS: flags.warmup,
        concurrency: flags.concurrency,
        streamConcurrency: flags.streamConcurrency,
        streamTokens: flags.streamTokens,
        maxTokens: flags.maxTokens,
        streamChunkDelayMs: flags.streamChunkDelay,
        pacedChunkDelayMs: flags.pacedChunkDelay,
        keyGateway: flags.keyGateway,
        portkey: flags.portkey,
        bareProxy: flags.bareProxy,
        profileDir: flags.profile === undefined ? null : path.resolve(flags.profile),
        logLevel: flags.logLevel,
        phases: flags.phases,
        progress,
      });
      process.stdout.write(`${gatewayTable(report)}\n`);
      for (const profile of report.profiles ?? []) process.stdout.write(`\n${profileTable(profile)}\n`);
      const files = writeGatewayReport(report, path.resolve(flags.out));
      progress(`wrote ${files.markdown}, ${files.json}`);
    });
}

interface SchemaFlags {
  data: string;
  subsets: string;
  limit?: number;
  files?: string;
  model?: string;
  maxTokens: number;
  threads?: number;
  seed: number;
  out: string;
}

/** `chatport bench schemas` (and `npm run bench -- schemas`): the JSON Schema compiler over JSONSchemaBench; its module (and Ajv) load only here. */
function schemaBenchCommand(): Command {
  return new Command("schemas")
    .description("compile every JSONSchemaBench schema, generate once on the tiny test model under its grammar, validate with Ajv")
    .option("--data <dir>", "the JSONSchemaBench subsets", path.join("..", "shared", "jsonschemabench"))
    .option("--subsets <list>", "subsets, comma-separated", "Glaiveai2K,Github_easy,Github_medium")
    .option("--limit <n>", "schemas per subset (default: all)", int)
    .option("--files <list>", "only these schema files, comma-separated (e.g. o37786.json)")
    .option("--model <file>", "GGUF to generate with (default: the generated tiny random test model; e.g. ../shared/models/stories260K.gguf, a trained tiny model)")
    .option("--max-tokens <n>", "tokens per generation; longer outputs count as length cuts", int, 1024)
    .option("--threads <n>", "llama.cpp threads", int)
    .option("--seed <n>", "sampling seed", int, 1)
    .option("--out <dir>", "where the JSON / Markdown reports go", "bench/results")
    .action(async (given: SchemaFlags, command: Command) => {
      const parent = command.parent;
      const fromParent = (name: string): boolean => parent?.getOptionValueSource(name) === "cli";
      const flags = { ...given, ...(fromParent("maxTokens") ? { maxTokens: parent?.opts<BenchFlags>().maxTokens ?? given.maxTokens } : {}), ...(fromParent("out") ? { out: parent?.opts<BenchFlags>().out ?? given.out } : {}), ...(fromParent("threads") ? { threads: parent?.opts<BenchFlags>().threads } : {}), ...(fromParent("model") ? { model: parent?.opts<BenchFlags>().model } : {}) };
      const { runSchemaBench, schemaTable, writeSchemaReport } = await import("../bench/schema-bench.js");
      fs.mkdirSync(path.resolve(flags.out), { recursive: true });
      const modelPath = flags.model !== undefined ? path.resolve(flags.model) : path.resolve(".cache", "test-models", "tiny-seed1.gguf");
      if (flags.model === undefined && !fs.existsSync(modelPath)) {
        fs.mkdirSync(path.dirname(modelPath), { recursive: true });
        await writeTestModel({ out: modelPath, shape: "tiny", seed: 1, type: "f16" });
      }
      const report = await runSchemaBench({
        dataDir: path.resolve(flags.data),
        subsets: flags.subsets.split(",").map((s) => s.trim()),
        limit: flags.limit ?? null,
        files: flags.files === undefined ? null : new Set(flags.files.split(",").map((f) => f.trim())),
        maxTokens: flags.maxTokens,
        modelPath,
        threads: flags.threads ?? 1,
        seed: flags.seed,
        progress,
        casesLog: path.resolve(flags.out, `schemas-cases-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`),
      });
      process.stdout.write(`${schemaTable(report)}\n`);
      const files = writeSchemaReport(report, path.resolve(flags.out));
      progress(`wrote ${files.markdown}, ${files.json}`);
    });
}

interface StructuredFlags {
  rounds: number;
  seeds: number;
  tokens: number;
  out: string;
}

/** `chatport bench structured` (and `npm run bench -- structured`): decode speed under grammars against unconstrained decoding. */
function structuredBenchCommand(): Command {
  return new Command("structured")
    .description("decode tokens/s under grammars (json_schema, tool calls, json_object) against unconstrained decoding, on the qwen2.5-0.5b-shaped model")
    .option("--rounds <n>", "rounds; the modes alternate within each", int, 3)
    .option("--seeds <n>", "requests per mode per round", int, 3)
    .option("--tokens <n>", "max_tokens per request", int, 128)
    .option("--out <dir>", "where the JSON / Markdown reports go", "bench/results")
    .action(async (flags: StructuredFlags, command: Command) => {
      // --model, --type, --threads and --out are also options of `bench`, where the parser leaves them.
      const parent = command.parent?.opts<BenchFlags>();
      const out = command.parent?.getOptionValueSource("out") === "cli" ? (parent?.out ?? flags.out) : flags.out;
      const type = parent?.type ?? "q8_0";
      if (!TEST_MODEL_TYPES.includes(type)) throw new InvalidArgumentError(`--type must be one of ${TEST_MODEL_TYPES.join(", ")}`);
      const modelPath = parent?.model !== undefined ? path.resolve(parent.model) : await benchModel(command.parent?.getOptionValueSource("type") === "cli" ? type : "q8_0");
      const { runStructuredBench, structuredTable, writeStructuredReport } = await import("../bench/structured-bench.js");
      const report = await runStructuredBench({
        modelPath,
        threads: parent?.threads ?? defaultThreads(),
        maxTokens: flags.tokens,
        rounds: flags.rounds,
        seeds: flags.seeds,
        progress,
      });
      process.stdout.write(`${structuredTable(report)}\n`);
      const files = writeStructuredReport(report, path.resolve(out));
      progress(`wrote ${files.markdown}, ${files.json}`);
    });
}

export function benchCommand(): Command {
  return new Command("bench")
    .description("benchmark chatport against node-llama-cpp directly and llama-server, side by side")
    .option("--model <file>", "GGUF to measure (default: a generated qwen2.5-0.5b-shaped model)")
    .option("--type <type>", `weights of the generated model: ${TEST_MODEL_TYPES.join(", ")}`, "f16")
    .option("--llama-server <path>", "llama-server binary to compare against (default: .cache/llama.cpp build if present)")
    .option("--no-llama-server", "do not compare against llama-server")
    .option("--threads <n>", "threads for every system (default: the cores this process may use)", int)
    .option("--concurrency <list>", "concurrent streams per level", "1,2,4,8,16")
    .option("--prompt-tokens <n>", "prompt length per stream", int, 128)
    .option("--max-tokens <n>", "output tokens per stream (EOS ignored)", int, 64)
    .option("--long-prompt <n>", "prompt length for the TTFT and shared-prefix runs", int, 1000)
    .option("--ctx <n>", "context per sequence", int, 2048)
    .option("--skip-direct", "skip the direct node-llama-cpp baseline")
    .option("--llama-builds <list>", `chatport runs, one per llama.cpp binary, side by side: ${LLAMA_BUILDS.join(", ")} (e.g. prebuilt,native: the default install against \`npm run build:native\`; native is skipped without a native build)`, llamaBuildList, ["auto"])
    .option("--stagger-ms <n>", "start the streams of a level this many ms apart instead of at once (late arrivals; HTTP systems only)", nonNegative, 0)
    .option("--quick", "a short smoke run (levels 1,2; 16 tokens; 200-token long prompt)")
    .option("--out <dir>", "where the JSON / Markdown / SVG reports go", "bench/results")
    .addCommand(gatewayBenchCommand())
    .addCommand(schemaBenchCommand())
    .addCommand(structuredBenchCommand())
    .action(async (flags: BenchFlags) => {
      if (!TEST_MODEL_TYPES.includes(flags.type)) throw new InvalidArgumentError(`--type must be one of ${TEST_MODEL_TYPES.join(", ")}`);
      const { runBench, report: reports } = await loadSideBySideBench();
      const modelPath = flags.model !== undefined ? path.resolve(flags.model) : await benchModel(flags.type);
      const report = await runBench({
        modelPath,
        llamaServer: flags.llamaServer === false ? null : (flags.llamaServer ?? findLlamaServer()),
        threads: flags.threads ?? defaultThreads(),
        concurrency: flags.quick === true ? [1, 2] : flags.concurrency.split(",").map((c) => int(c.trim())),
        promptTokens: flags.quick === true ? 32 : flags.promptTokens,
        maxTokens: flags.quick === true ? 16 : flags.maxTokens,
        longPromptTokens: flags.quick === true ? 200 : flags.longPrompt,
        contextSize: flags.ctx,
        skipDirect: flags.skipDirect === true,
        llamaBuilds: flags.llamaBuilds,
        staggerMs: flags.staggerMs,
        progress,
      });
      process.stdout.write(`${reports.table(report)}\n`);
      const files = reports.writeReport(report, path.resolve(flags.out));
      progress(`wrote ${files.markdown}, ${files.json}, ${files.svg}`);
    });
}
