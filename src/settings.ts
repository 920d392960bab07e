/**
 * Every setting of `chatport serve`, declared once: its config-file key, zod
 * schema, default, CHATPORT_* environment variable, command-line flag and
 * help. The config schema (config.ts), the environment reader, the commander
 * flags (cli/setting-options.ts) and the README's configuration table
 * (`npm run docs:settings`) are all made from this table, so a default cannot
 * differ between them. Code below the CLI gets its values from the resolved
 * config and declares no default of its own.
 *
 * Adding a setting is one row: pick the `kind` (how a string from the
 * environment or a flag becomes a value), give the schema and the default,
 * then run `npm run docs:settings` to update the README.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { KV_CACHE_TYPES } from "./engines/llama/kv-cache-memory.js";
import { defaultThreads, LLAMA_BUILDS } from "./engines/llama/llama-runtime.js";

/** USD per million tokens; cached input defaults to the input price. */
export const modelPricesSchema = z
  .object({
    input: z.number().min(0),
    cachedInput: z.number().min(0).optional(),
    output: z.number().min(0),
  })
  .strict();

export const modelSpecSchema = z.object({
  id: z.string().min(1),
  /** Local .gguf path, hf:owner/repo/file.gguf, or an https URL. */
  source: z.string().min(1),
  prices: modelPricesSchema.optional(),
  /** A Jinja chat template file used instead of the GGUF's own (missing or wrong) template. */
  chatTemplate: z.string().min(1).optional(),
});

export type ModelSpec = z.infer<typeof modelSpecSchema>;

/** A local model loaded for embeddings (`/v1/embeddings` only). */
export const embeddingModelSpecSchema = z.object({
  id: z.string().min(1),
  /** Local .gguf path, hf:owner/repo/file.gguf, or an https URL. */
  source: z.string().min(1),
  prices: modelPricesSchema.optional(),
  /** Trained Matryoshka-style: requests may ask for fewer `dimensions` (the vector is truncated, then normalised). */
  matryoshka: z.boolean().optional(),
});

export type EmbeddingModelSpec = z.infer<typeof embeddingModelSpecSchema>;

const providerSchema = z
  .object({
    id: z.string().min(1),
    /** Including the API prefix: `http://10.0.0.5:8000/v1`. */
    baseUrl: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    /** Name of the environment variable holding the provider's API key (the key itself never goes in a config file). */
    apiKeyEnv: z.string().min(1).optional(),
    timeouts: z
      .object({ connectMs: z.number().int().positive(), firstByteMs: z.number().int().positive(), idleMs: z.number().int().positive() })
      .partial()
      .strict()
      .optional(),
    maxConcurrent: z.number().int().min(1).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    healthCheckMs: z.number().int().min(0).optional(),
    /** APIs besides chat completions the provider serves, forwarded to it as they are (its own endpoint) instead of translated to chat completions. */
    apis: z.array(z.enum(["responses", "messages"])).optional(),
  })
  .strict();

const deploymentSchema = z
  .object({
    provider: z.string().min(1),
    model: z.string().min(1),
    weight: z.number().positive().optional(),
    priority: z.number().int().min(0).optional(),
  })
  .strict();

const upstreamModelSchema = z
  .object({
    id: z.string().min(1),
    deployments: z.array(deploymentSchema).min(1),
    strategy: z.enum(["weighted", "least-outstanding"]).optional(),
    retries: z.number().int().min(0).max(10).optional(),
    contextLength: z.number().int().min(16).optional(),
    acceptsMedia: z.boolean().optional(),
    prices: modelPricesSchema.optional(),
  })
  .strict();

export type ProviderSpec = z.infer<typeof providerSchema>;
export type UpstreamModelSpec = z.infer<typeof upstreamModelSchema>;

export const defaultModel: ModelSpec = {
  id: "qwen2.5-0.5b-instruct",
  source: "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf",
};

/**
 * Model ids may contain `/` (`Qwen/Qwen2.5-7B`) and sources may contain `=`
 * (a URL's query): `ID=SOURCE` splits at the first `=` whose right side looks
 * like a source (a path, `hf:`, an http(s) URL or a `.gguf` file name), else
 * at the first `=`. Without one, the SOURCE's file name (without .gguf)
 * becomes the id.
 */
export function parseModelArg(arg: string): ModelSpec {
  for (let eq = arg.indexOf("="); eq > 0; eq = arg.indexOf("=", eq + 1)) {
    const source = arg.slice(eq + 1);
    if (looksLikeModelSource(source)) return { id: arg.slice(0, eq), source };
  }
  const eq = arg.indexOf("=");
  if (eq > 0) return { id: arg.slice(0, eq), source: arg.slice(eq + 1) };
  const base = arg.split("/").pop() ?? arg;
  return { id: base.replace(/\.gguf$/i, ""), source: arg };
}

function looksLikeModelSource(text: string): boolean {
  return /^(hf:|https?:\/\/|\.{0,2}\/|~\/)/i.test(text) || /\.gguf$/i.test(text.split(/[?#]/, 1)[0] ?? "");
}

/**
 * How a string from the environment or a flag becomes a value (zod then
 * validates it): `integer`/`number` parse a number, `switch` reads on/off,
 * `list` splits at commas (`item` parses each), `json` settings are
 * config-file only.
 */
export type SettingKind = "string" | "integer" | "number" | "switch" | "list" | "json";

export interface SettingRow<S extends z.ZodType = z.ZodType> {
  kind: SettingKind;
  schema: S;
  /** The default, or a function for one that depends on the machine (threads, home directory). */
  default: z.output<S> | (() => z.output<S>);
  /** The default as the README and `--help` show it, where the value itself does not say it well. */
  defaultText?: string;
  /** The environment variable; null: none (config file and flag only). */
  env: string | null;
  /** The flag with its argument (`--port <n>`); null: none. Derived from the key and kind when left out (`bodyLimit` → `--body-limit <n>`). */
  flag?: string | null;
  /** A `list` given by repeating the flag (`--model a --model b`) instead of commas. */
  repeatable?: boolean;
  /** Parses one item of a `list`. */
  item?: (text: string) => unknown;
  /** Words an `integer` or `number` setting also takes as they are (`--ctx auto`). */
  words?: readonly string[];
  help: string;
}

const row = <S extends z.ZodType>(spec: SettingRow<S>): SettingRow<S> => spec;

const durationMs = z.number().int();

export const settings = {
  models: row({
    kind: "list",
    schema: z.array(modelSpecSchema),
    default: [defaultModel],
    defaultText: "the Qwen2.5-0.5B default (none when upstream models are configured)",
    env: "CHATPORT_MODELS",
    flag: "--model <ID=SOURCE>",
    repeatable: true,
    item: parseModelArg,
    help: "a local model to serve: `ID=./file.gguf`, `ID=hf:owner/repo/file.gguf` or an https URL; ids may contain `/`",
  }),
  upstream: row({
    kind: "list",
    schema: z.array(z.string()),
    default: [],
    defaultText: "none",
    env: "CHATPORT_UPSTREAMS",
    flag: "--upstream <ID=URL[#MODEL]>",
    repeatable: true,
    help: "route `ID` to an OpenAI-compatible server at URL (its model name MODEL, default ID; key from `CHATPORT_UPSTREAM_API_KEY`); adds to `providers` and `upstreamModels` (the environment's and the flags' both count)",
  }),
  chatTemplates: row({
    kind: "list",
    schema: z.array(z.string().regex(/^[^=]+=.+$/, "must be ID=FILE")),
    default: [],
    defaultText: "none",
    env: "CHATPORT_CHAT_TEMPLATES",
    flag: "--chat-template <ID=FILE>",
    repeatable: true,
    help: "render local model `ID` with the Jinja chat template in FILE instead of its GGUF's own (the config file's `models[].chatTemplate` does the same)",
  }),
  embeddingModels: row({
    kind: "list",
    schema: z.array(embeddingModelSpecSchema),
    default: [],
    defaultText: "none",
    env: "CHATPORT_EMBEDDING_MODELS",
    flag: "--embedding-model <ID=SOURCE>",
    repeatable: true,
    item: parseModelArg,
    help: "a local embedding model (a GGUF with a pooling type) served on `/v1/embeddings` only, given like `--model`; the config file's `embeddingModels[].matryoshka: true` lets requests ask for fewer `dimensions`",
  }),
  host: row({ kind: "string", schema: z.string().min(1), default: "127.0.0.1", env: "CHATPORT_HOST", flag: "--host <host>", help: "listen address" }),
  port: row({ kind: "integer", schema: z.number().int().min(0).max(65535), default: 8000, env: "CHATPORT_PORT", flag: "--port <port>", help: "listen port (`0` picks a free one)" }),
  apiKey: row({
    kind: "string",
    schema: z.string().min(1).nullable(),
    default: null,
    defaultText: "none",
    env: "CHATPORT_API_KEY",
    flag: "--api-key <key>",
    help: "a static key accepted on `/v1/*`, with no limits and no key id in the ledger (managed keys: `chatport keys`)",
  }),
  adminKey: row({
    kind: "string",
    schema: z.string().min(1).nullable(),
    default: null,
    defaultText: "none",
    env: "CHATPORT_ADMIN_KEY",
    flag: "--admin-key <key>",
    help: "enables `/admin/` for `Authorization: Bearer KEY` (also accepted on `/v1/*`, unlimited)",
  }),
  databaseUrl: row({
    kind: "string",
    schema: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL").nullable(),
    default: null,
    defaultText: "none",
    env: "DATABASE_URL",
    flag: "--database-url <url>",
    help: "`postgres://…`: keys and ledger in PostgreSQL (replicas share it)",
  }),
  dbPath: row({
    kind: "string",
    schema: z.string().min(1),
    default: path.join(".chatport", "chatport.sqlite"),
    env: "CHATPORT_DB_PATH",
    flag: "--db-path <file>",
    help: "the SQLite file used without a database URL (created and migrated on start)",
  }),
  sqliteSync: row({
    kind: "string",
    schema: z.enum(["full", "normal"]),
    // WAL + synchronous=NORMAL: a committed row survives a crash or kill -9 of
    // chatport (test/gateway-replicas.e2e.test.ts runs this default); only an
    // OS crash or power loss can lose the last commits.
    default: "normal",
    env: "CHATPORT_SQLITE_SYNC",
    flag: "--sqlite-sync <mode>",
    help: "`normal`: a committed ledger row survives a crash or `kill -9` of chatport (tested), not an OS crash or power loss; `full`: every commit is fsynced (survives power loss), about 0.2 ms more per request at p50 and 1.5 ms at p99",
  }),
  redisUrl: row({
    kind: "string",
    schema: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").nullable(),
    default: null,
    defaultText: "none",
    env: "REDIS_URL",
    flag: "--redis-url <url>",
    help: "`redis://…`: limit counters, budgets in flight and revocations shared by replicas",
  }),
  redisPrefix: row({ kind: "string", schema: z.string().min(1), default: "chatport:", env: "CHATPORT_REDIS_PREFIX", help: "prefix of every Redis key chatport writes (several deployments can share one Redis)" }),
  providers: row({
    kind: "json",
    schema: z.array(providerSchema),
    default: [],
    defaultText: "none",
    env: null,
    flag: null,
    help: "OpenAI-compatible servers chatport routes to (config file; see \"Upstream models\")",
  }),
  upstreamModels: row({
    kind: "json",
    schema: z.array(upstreamModelSchema),
    default: [],
    defaultText: "none",
    env: null,
    flag: null,
    help: "public model ids served by upstream deployments (config file; see \"Upstream models\")",
  }),
  aliases: row({
    kind: "json",
    schema: z.record(z.string().min(1), z.string().min(1)),
    default: {},
    defaultText: "none",
    env: null,
    flag: null,
    help: "extra public ids for a model: `{\"gpt-4\": \"Qwen/Qwen2.5-72B-Instruct\"}` (config file)",
  }),
  fallbacks: row({
    kind: "json",
    schema: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)),
    default: {},
    defaultText: "none",
    env: null,
    flag: null,
    help: "models tried in order when a model refuses a request as too long for its context (config file)",
  }),
  breaker: row({
    kind: "json",
    schema: z.object({ failureThreshold: z.number().int().min(1), cooldownMs: durationMs.min(1) }).strict(),
    default: { failureThreshold: 5, cooldownMs: 30_000 },
    env: null,
    flag: null,
    help: "an upstream deployment's circuit opens after `failureThreshold` consecutive failures, for `cooldownMs`, then lets one probe through (config file)",
  }),
  parallel: row({ kind: "integer", schema: z.number().int().min(1).max(256), default: 4, env: "CHATPORT_PARALLEL", flag: "--parallel <n>", help: "sequences decoded together per model" }),
  ctx: row({
    kind: "integer",
    schema: z.union([z.number().int().min(16), z.literal("auto")]),
    default: 4096,
    env: "CHATPORT_CTX",
    flag: "--ctx <n|auto>",
    words: ["auto"],
    help: "context tokens per sequence. `auto`: the largest that fits in the memory available at load (weights + KV cache + headroom), at most the model's training context and at least 4096 (or the training context, if smaller); a number that does not fit is refused at start. docs/OPERATIONS.md, \"KV cache memory\"",
  }),
  threads: row({
    kind: "integer",
    schema: z.number().int().min(1),
    default: defaultThreads,
    defaultText: "cores this process may use",
    env: "CHATPORT_THREADS",
    flag: "--threads <n>",
    help: "llama.cpp threads",
  }),
  llamaBuild: row({
    kind: "string",
    schema: z.enum(LLAMA_BUILDS),
    default: "auto",
    env: "CHATPORT_LLAMA_BUILD",
    flag: "--llama-build <which>",
    help: "the llama.cpp binary: `auto` (the `npm run build:native` build when there is one, else node-llama-cpp's prebuilt), `prebuilt` or `native` (fails at start without a native build); logged at start and named in each `model loaded` line",
  }),
  maxWaiting: row({ kind: "integer", schema: z.number().int().min(0), default: 64, env: "CHATPORT_MAX_WAITING", flag: "--max-waiting <n>", help: "requests that may queue per model before 503" }),
  batchSize: row({
    kind: "integer",
    schema: z.number().int().min(16),
    default: 2048,
    env: "CHATPORT_BATCH_SIZE",
    flag: "--batch-size <n>",
    help: "tokens per llama.cpp decode: prompts that wait together are prefilled together up to this",
  }),
  flashAttention: row({
    kind: "switch",
    schema: z.boolean(),
    default: true,
    defaultText: "on",
    env: "CHATPORT_FLASH_ATTN",
    flag: "--flash-attn <on|off>",
    help: "flash attention (less memory for big batches, a little faster on CPU)",
  }),
  kvCacheType: row({
    kind: "string",
    schema: z.enum(KV_CACHE_TYPES),
    default: "f16",
    env: "CHATPORT_KV_CACHE_TYPE",
    flag: "--kv-cache-type <type>",
    help: "element type of the KV cache's keys and values: f16, q8_0 (half the memory) or q4_0 (a quarter), as llama-server's --cache-type-k/-v; quantized types need flash attention. `/admin/models` shows each model's cache memory",
  }),
  maxStall: row({
    kind: "number",
    schema: z.number().min(0),
    default: 0,
    env: "CHATPORT_MAX_STALL",
    flag: "--max-stall <x>",
    help: "while other streams decode, a step that also prefills a new prompt may take at most X × a decode-only step (measured); 0: no limit. Experimental: keeps streams within X × their usual gap when prompts arrive mid-stream, at a price (at 3, measured on 2 cores: 17 % less throughput, 4× the time to first token; docs/BENCHMARKS.md, \"Late arrivals\"). A burst reaching an idle engine needs no budget: its streams start together",
  }),
  prefillChunk: row({
    kind: "integer",
    schema: z.number().int().min(0),
    default: 0,
    env: "CHATPORT_PREFILL_CHUNK",
    flag: "--prefill-chunk <n>",
    help: "a fixed cap instead: at most N prompt tokens per step while others decode (0: off)",
  }),
  bodyLimit: row({ kind: "integer", schema: z.number().int().min(1024), default: 4 * 1024 * 1024, env: "CHATPORT_BODY_LIMIT", help: "largest request body, bytes" }),
  corsOrigins: row({
    kind: "list",
    schema: z.array(z.string().min(1)),
    default: [],
    defaultText: "off",
    env: "CHATPORT_CORS_ORIGINS",
    flag: "--cors <origins>",
    help: "comma-separated origins allowed from browsers (`*` for any)",
  }),
  clientTimeoutMs: row({
    kind: "integer",
    schema: durationMs.min(100),
    default: 30_000,
    env: "CHATPORT_CLIENT_TIMEOUT_MS",
    help: "headers within this, the body within 3×, no stream stalled longer than this",
  }),
  keepAliveTimeoutMs: row({
    kind: "integer",
    schema: durationMs.min(1000),
    default: 65_000,
    env: "CHATPORT_KEEP_ALIVE_TIMEOUT_MS",
    help: "how long an idle keep-alive connection stays open; above the 60 s idle timeout of common load balancers and the 4–5 s of common HTTP clients, so the other side always closes first and never sends a request on a connection chatport is closing",
  }),
  responseRetentionHours: row({
    kind: "number",
    schema: z.number().min(0),
    default: 720,
    env: "CHATPORT_RESPONSE_RETENTION_HOURS",
    help: "how long a stored Responses API response (`store: true`) can be retrieved and continued; 0 keeps it until deleted",
  }),
  responseMaxBytes: row({
    kind: "integer",
    schema: z.number().int().min(1024),
    default: 16 * 1024 * 1024,
    env: "CHATPORT_RESPONSE_MAX_BYTES",
    help: "largest stored response, its whole conversation included (JSON bytes); a longer conversation must be continued with `store: false`",
  }),
  shutdownGraceMs: row({ kind: "integer", schema: durationMs.min(0), default: 30_000, env: "CHATPORT_SHUTDOWN_GRACE_MS", help: "on SIGTERM, how long in-flight requests may finish" }),
  cacheDir: row({
    kind: "string",
    schema: z.string().min(1),
    default: () => path.join(os.homedir(), ".cache", "chatport", "models"),
    defaultText: "~/.cache/chatport/models",
    env: "CHATPORT_CACHE_DIR",
    help: "where downloaded models go",
  }),
  downloadStallSeconds: row({
    kind: "number",
    schema: z.number().positive(),
    default: 60,
    env: "CHATPORT_DOWNLOAD_STALL_SECONDS",
    help: "a model download that receives nothing for this long fails (and can be resumed)",
  }),
  logLevel: row({
    kind: "string",
    schema: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
    default: "info",
    env: "CHATPORT_LOG_LEVEL",
    help: "pino log level: `info` logs one line per request; `debug` adds the dashboard's polls (`/admin/*`, `/metrics`, `/health`); `trace` adds one `engine step` line per llama.cpp decode (decoders, prompt tokens, the prefill cap, ms)",
  }),
} as const;

export type SettingKey = keyof typeof settings;
export const settingKeys = Object.keys(settings) as SettingKey[];

type SettingsShape = { [K in SettingKey]: (typeof settings)[K]["schema"] };

/** Every setting, validated (the config file is a partial of it, `upstream` aside). */
export const settingsSchema = z.object(Object.fromEntries(settingKeys.map((key) => [key, settings[key].schema])) as SettingsShape);

export type Settings = z.output<typeof settingsSchema>;

/** A setting's default (evaluated now, for the machine-dependent ones). */
export function settingDefault<K extends SettingKey>(key: K): Settings[K] {
  const value: unknown = settings[key].default;
  return (typeof value === "function" ? (value as () => unknown)() : structuredClone(value)) as Settings[K];
}

export function defaultSettings(): Settings {
  return Object.fromEntries(settingKeys.map((key) => [key, settingDefault(key)])) as Settings;
}

/** The flag with its argument, or null: written in the row, else `--kebab-key <value>`. */
export function settingFlag(key: SettingKey): string | null {
  const spec: SettingRow = settings[key];
  if (spec.flag !== undefined) return spec.flag;
  const argument = spec.kind === "integer" ? "<n>" : spec.kind === "number" ? "<x>" : "<value>";
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} ${argument}`;
}

/** A string from the environment or a flag → the raw value zod validates (a bad one stays a string, for zod's message). */
export function parseSettingText(key: SettingKey, text: string): unknown {
  const spec: SettingRow = settings[key];
  switch (spec.kind) {
    case "integer":
    case "number":
      if (spec.words?.includes(text.trim().toLowerCase()) === true) return text.trim().toLowerCase();
      return text.trim() === "" ? text : Number(text);
    case "switch": {
      const word = text.trim().toLowerCase();
      if (["on", "true", "1", "yes"].includes(word)) return true;
      if (["off", "false", "0", "no"].includes(word)) return false;
      return text;
    }
    case "list": {
      const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
      return spec.item === undefined ? items : items.map(spec.item);
    }
    case "string":
    case "json":
      return text;
  }
}

/** The settings the environment gives (empty variables count as unset). */
export function settingsFromEnv(env: NodeJS.ProcessEnv): Partial<Record<SettingKey, unknown>> {
  const out: Partial<Record<SettingKey, unknown>> = {};
  for (const key of settingKeys) {
    const name = settings[key].env;
    const text = name === null ? undefined : env[name];
    if (text !== undefined && text !== "") out[key] = parseSettingText(key, text);
  }
  return out;
}

function markdownCell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function defaultText(key: SettingKey): string {
  const spec: SettingRow = settings[key];
  if (spec.defaultText !== undefined) return spec.defaultText;
  const value: unknown = typeof spec.default === "function" ? (spec.default as () => unknown)() : spec.default;
  return `\`${typeof value === "string" ? value : JSON.stringify(value)}\``;
}

/** The README's configuration table. */
export function settingsMarkdownTable(): string {
  const lines = ["| config key | flag | env | default | meaning |", "|---|---|---|---|---|"];
  for (const key of settingKeys) {
    const spec: SettingRow = settings[key];
    const flag = settingFlag(key);
    const flagCell = flag === null ? "" : `\`${flag}\`${spec.repeatable === true ? " (repeatable)" : ""}`;
    const envCell = spec.env === null ? "" : `\`${spec.env}\`${spec.kind === "list" ? " (comma-separated)" : ""}`;
    const keyCell = key === "upstream" ? "" : `\`${key}\``;
    lines.push(`| ${[keyCell, flagCell, envCell, defaultText(key), spec.help].map(markdownCell).join(" | ")} |`);
  }
  return lines.join("\n");
}
