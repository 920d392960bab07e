/**
 * Server configuration: defaults < config file (JSON) < environment
 * (CHATPORT_*) < command-line flags. Validated with zod; a bad value is a
 * clear startup error, never a half-started server.
 */
import fs from "node:fs";
import path from "node:path";
import { z } from "zod";
import { defaultThreads } from "./engines/llama/llama-runtime.js";
import { defaultCacheDir } from "./engines/llama/model-source.js";

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
});

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

export const configSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  apiKey: z.string().min(1).nullable(),
  /** Bearer key for /admin/ (keys, usage); null disables the admin API. */
  adminKey: z.string().min(1).nullable(),
  /** postgres://… for PostgreSQL; null uses the SQLite file at dbPath. */
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL").nullable(),
  dbPath: z.string().min(1),
  /** SQLite durability: `full` survives power loss, `normal` survives a crash of chatport only (faster). */
  sqliteSync: z.enum(["full", "normal"]),
  /** redis://… to share limit counters and revocations between replicas; null keeps them in process. */
  redisUrl: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").nullable(),
  /** Prefix of every Redis key chatport writes (several deployments can share one Redis). */
  redisPrefix: z.string().min(1),
  models: z.array(modelSpecSchema),
  /** OpenAI-compatible servers chatport routes to. */
  providers: z.array(providerSchema),
  /** Public model ids served by upstream deployments. */
  upstreamModels: z.array(upstreamModelSchema),
  /** Extra public ids for a model: `{"gpt-4": "Qwen/Qwen2.5-72B-Instruct"}`. */
  aliases: z.record(z.string().min(1), z.string().min(1)),
  /** Models tried in order when a model refuses a request as too long for its context. */
  fallbacks: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)),
  breaker: z.object({ failureThreshold: z.number().int().min(1), cooldownMs: z.number().int().min(1) }).strict(),
  parallel: z.number().int().min(1).max(256),
  ctx: z.number().int().min(16),
  threads: z.number().int().min(1),
  maxWaiting: z.number().int().min(0),
  prefillChunk: z.number().int().min(0),
  /** While others decode, a step that also prefills prompts may take at most this × a decode-only step (0: no limit). */
  maxStall: z.number().min(0),
  /** Tokens per llama_decode (and per micro-batch): how many prompt tokens of waiting requests are prefilled together. */
  batchSize: z.number().int().min(16),
  /** Flash attention in llama.cpp (less memory for big batches, a little faster on CPU). */
  flashAttention: z.boolean(),
  bodyLimit: z.number().int().min(1024),
  /** Origins allowed to call the API from a browser (CORS); empty = CORS off. `*` allows any. */
  corsOrigins: z.array(z.string().min(1)),
  /** A client must send its headers within this, its whole body within 3×, and keep reading a stream (no stall longer than this). */
  clientTimeoutMs: z.number().int().min(100),
  /** On SIGTERM: how long in-flight requests may run before they are cut. */
  shutdownGraceMs: z.number().int().min(0),
  cacheDir: z.string().min(1),
  downloadStallSeconds: z.number().positive(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]),
});

export type ServeConfig = z.infer<typeof configSchema>;
export type ModelSpec = z.infer<typeof modelSpecSchema>;
export type ModelPrices = z.infer<typeof modelPricesSchema>;

export const defaultModel: ModelSpec = {
  id: "qwen2.5-0.5b-instruct",
  source: "hf:Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf",
};

export function defaultConfig(): ServeConfig {
  return {
    host: "127.0.0.1",
    port: 8000,
    apiKey: null,
    adminKey: null,
    databaseUrl: null,
    dbPath: path.join(".chatport", "chatport.sqlite"),
    // WAL + synchronous=NORMAL: a committed row survives a crash or kill -9 of
    // chatport (tested); only an OS crash or power loss can lose the last
    // commits. `full` fsyncs every commit: ~0.2 ms more per request at p50 and
    // ~1.5 ms at p99 in the gateway benchmark.
    sqliteSync: "normal",
    redisUrl: null,
    redisPrefix: "chatport:",
    models: [defaultModel],
    providers: [],
    upstreamModels: [],
    aliases: {},
    fallbacks: {},
    breaker: { failureThreshold: 5, cooldownMs: 30_000 },
    parallel: 4,
    ctx: 4096,
    threads: defaultThreads(),
    maxWaiting: 64,
    prefillChunk: 0,
    batchSize: 2048,
    maxStall: 0,
    flashAttention: true,
    bodyLimit: 4 * 1024 * 1024,
    corsOrigins: [],
    clientTimeoutMs: 30_000,
    shutdownGraceMs: 30_000,
    cacheDir: defaultCacheDir(),
    downloadStallSeconds: 60,
    logLevel: "info",
  };
}

/** `ID=SOURCE`, or a bare SOURCE whose file name (without .gguf) becomes the id. */
export function parseModelArg(arg: string): ModelSpec {
  const eq = arg.indexOf("=");
  if (eq > 0 && !arg.slice(0, eq).includes("/")) return { id: arg.slice(0, eq), source: arg.slice(eq + 1) };
  const base = arg.split("/").pop() ?? arg;
  return { id: base.replace(/\.gguf$/i, ""), source: arg };
}

function fromEnv(env: NodeJS.ProcessEnv): Partial<Record<keyof ServeConfig, unknown>> {
  const out: Partial<Record<keyof ServeConfig, unknown>> = {};
  const num = (v: string | undefined): number | undefined => (v === undefined || v === "" ? undefined : Number(v));
  if (env.CHATPORT_HOST) out.host = env.CHATPORT_HOST;
  if (env.CHATPORT_PORT) out.port = num(env.CHATPORT_PORT);
  if (env.CHATPORT_API_KEY) out.apiKey = env.CHATPORT_API_KEY;
  if (env.CHATPORT_ADMIN_KEY) out.adminKey = env.CHATPORT_ADMIN_KEY;
  if (env.DATABASE_URL) out.databaseUrl = env.DATABASE_URL;
  if (env.CHATPORT_DB_PATH) out.dbPath = env.CHATPORT_DB_PATH;
  if (env.CHATPORT_SQLITE_SYNC) out.sqliteSync = env.CHATPORT_SQLITE_SYNC;
  if (env.REDIS_URL) out.redisUrl = env.REDIS_URL;
  if (env.CHATPORT_REDIS_PREFIX) out.redisPrefix = env.CHATPORT_REDIS_PREFIX;
  if (env.CHATPORT_MODELS) out.models = env.CHATPORT_MODELS.split(",").map((s) => parseModelArg(s.trim()));
  if (env.CHATPORT_PARALLEL) out.parallel = num(env.CHATPORT_PARALLEL);
  if (env.CHATPORT_CTX) out.ctx = num(env.CHATPORT_CTX);
  if (env.CHATPORT_THREADS) out.threads = num(env.CHATPORT_THREADS);
  if (env.CHATPORT_MAX_WAITING) out.maxWaiting = num(env.CHATPORT_MAX_WAITING);
  if (env.CHATPORT_PREFILL_CHUNK) out.prefillChunk = num(env.CHATPORT_PREFILL_CHUNK);
  if (env.CHATPORT_MAX_STALL) out.maxStall = Number(env.CHATPORT_MAX_STALL);
  if (env.CHATPORT_BATCH_SIZE) out.batchSize = num(env.CHATPORT_BATCH_SIZE);
  if (env.CHATPORT_FLASH_ATTN) out.flashAttention = env.CHATPORT_FLASH_ATTN !== "off" && env.CHATPORT_FLASH_ATTN !== "0" && env.CHATPORT_FLASH_ATTN !== "false";
  if (env.CHATPORT_BODY_LIMIT) out.bodyLimit = num(env.CHATPORT_BODY_LIMIT);
  if (env.CHATPORT_CORS_ORIGINS) out.corsOrigins = env.CHATPORT_CORS_ORIGINS.split(",").map((o) => o.trim()).filter((o) => o !== "");
  if (env.CHATPORT_CLIENT_TIMEOUT_MS) out.clientTimeoutMs = num(env.CHATPORT_CLIENT_TIMEOUT_MS);
  if (env.CHATPORT_SHUTDOWN_GRACE_MS) out.shutdownGraceMs = num(env.CHATPORT_SHUTDOWN_GRACE_MS);
  if (env.CHATPORT_CACHE_DIR) out.cacheDir = env.CHATPORT_CACHE_DIR;
  if (env.CHATPORT_DOWNLOAD_STALL_SECONDS) out.downloadStallSeconds = num(env.CHATPORT_DOWNLOAD_STALL_SECONDS);
  if (env.CHATPORT_LOG_LEVEL) out.logLevel = env.CHATPORT_LOG_LEVEL;
  return out;
}

function fromFile(file: string): Partial<Record<keyof ServeConfig, unknown>> {
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`Cannot read config file ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const parsed = configSchema.partial().strict().safeParse(raw);
  if (!parsed.success) throw new Error(`Invalid config file ${file}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * `ID=URL` or `ID=URL#UPSTREAM_MODEL`: one upstream model on one provider,
 * e.g. `qwen72=http://10.0.0.5:8000/v1#Qwen/Qwen2.5-72B-Instruct`. The key,
 * if any, comes from CHATPORT_UPSTREAM_API_KEY.
 */
export function parseUpstreamArg(arg: string): { provider: ProviderSpec; model: UpstreamModelSpec } {
  const eq = arg.indexOf("=");
  if (eq <= 0) throw new Error(`--upstream must be ID=URL[#MODEL], got ${JSON.stringify(arg)}`);
  const id = arg.slice(0, eq);
  const [url = "", upstreamModel] = arg.slice(eq + 1).split("#", 2);
  const provider: ProviderSpec = { id: `upstream:${id}`, baseUrl: url.replace(/\/+$/, ""), apiKeyEnv: "CHATPORT_UPSTREAM_API_KEY" };
  return { provider, model: { id, deployments: [{ provider: provider.id, model: upstreamModel ?? id }] } };
}

/** Applies `--upstream` shortcuts on top of the configured providers and models. */
export function withUpstreamArgs(
  config: { providers?: unknown; upstreamModels?: unknown },
  args: readonly string[],
): { providers: unknown[]; upstreamModels: unknown[] } {
  const providers = Array.isArray(config.providers) ? [...(config.providers as unknown[])] : [];
  const upstreamModels = Array.isArray(config.upstreamModels) ? [...(config.upstreamModels as unknown[])] : [];
  for (const arg of args) {
    const { provider, model } = parseUpstreamArg(arg);
    providers.push(provider);
    upstreamModels.push(model);
  }
  return { providers, upstreamModels };
}

export function resolveConfig(
  flags: Partial<Record<keyof ServeConfig, unknown>> & { upstream?: readonly string[] },
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ServeConfig {
  const file = configFile === undefined ? {} : fromFile(configFile);
  const fromEnvironment = fromEnv(env);
  const merged: Record<string, unknown> = { ...defaultConfig(), ...file, ...fromEnvironment };
  const { upstream = [], ...plain } = flags;
  for (const [key, value] of Object.entries(plain)) if (value !== undefined) Object.assign(merged, { [key]: value });
  const upstreamArgs = [...(env.CHATPORT_UPSTREAMS?.split(",").map((s) => s.trim()).filter((s) => s !== "") ?? []), ...upstream];
  Object.assign(merged, withUpstreamArgs(merged, upstreamArgs));
  // The default local model is only for a server given no models at all.
  const modelsChosen = file.models !== undefined || fromEnvironment.models !== undefined || plain.models !== undefined;
  if (!modelsChosen && Array.isArray(merged.upstreamModels) && merged.upstreamModels.length > 0) merged.models = [];
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new Error(`Invalid configuration: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  checkModelIds(config);
  return config;
}

/** Ids are unique across local models, upstream models and aliases; every reference points somewhere. */
function checkModelIds(config: ServeConfig): void {
  const ids = new Set<string>();
  for (const id of [...config.models.map((m) => m.id), ...config.upstreamModels.map((m) => m.id), ...Object.keys(config.aliases)]) {
    if (ids.has(id)) throw new Error(`Invalid configuration: model id ${JSON.stringify(id)} is defined twice`);
    ids.add(id);
  }
  if (ids.size === 0) throw new Error("Invalid configuration: no models: give --model ID=PATH, --upstream ID=URL or a config file with models");
  const providers = new Set(config.providers.map((p) => p.id));
  if (providers.size !== config.providers.length) throw new Error("Invalid configuration: a provider id is defined twice");
  for (const m of config.upstreamModels) {
    for (const d of m.deployments) {
      if (!providers.has(d.provider)) throw new Error(`Invalid configuration: model ${JSON.stringify(m.id)} uses unknown provider ${JSON.stringify(d.provider)}`);
    }
  }
  for (const [alias, target] of Object.entries(config.aliases)) {
    if (!ids.has(target) || target in config.aliases) throw new Error(`Invalid configuration: alias ${JSON.stringify(alias)} points to unknown model ${JSON.stringify(target)}`);
  }
  for (const [model, chain] of Object.entries(config.fallbacks)) {
    for (const id of [model, ...chain]) {
      if (!ids.has(id)) throw new Error(`Invalid configuration: fallbacks name unknown model ${JSON.stringify(id)}`);
    }
  }
}
