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

export const configSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  apiKey: z.string().min(1).nullable(),
  /** Bearer key for /admin/ (keys, usage); null disables the admin API. */
  adminKey: z.string().min(1).nullable(),
  /** postgres://… for PostgreSQL; null uses the SQLite file at dbPath. */
  databaseUrl: z.string().regex(/^postgres(ql)?:\/\//, "must be a postgres:// or postgresql:// URL").nullable(),
  dbPath: z.string().min(1),
  /** redis://… to share limit counters and revocations between replicas; null keeps them in process. */
  redisUrl: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL").nullable(),
  /** Prefix of every Redis key chatport writes (several deployments can share one Redis). */
  redisPrefix: z.string().min(1),
  models: z.array(modelSpecSchema).min(1, "at least one model is required (--model ID=PATH)"),
  parallel: z.number().int().min(1).max(256),
  ctx: z.number().int().min(16),
  threads: z.number().int().min(1),
  maxWaiting: z.number().int().min(0),
  prefillChunk: z.number().int().min(0),
  bodyLimit: z.number().int().min(1024),
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
    redisUrl: null,
    redisPrefix: "chatport:",
    models: [defaultModel],
    parallel: 4,
    ctx: 4096,
    threads: defaultThreads(),
    maxWaiting: 64,
    prefillChunk: 0,
    bodyLimit: 4 * 1024 * 1024,
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
  if (env.REDIS_URL) out.redisUrl = env.REDIS_URL;
  if (env.CHATPORT_REDIS_PREFIX) out.redisPrefix = env.CHATPORT_REDIS_PREFIX;
  if (env.CHATPORT_MODELS) out.models = env.CHATPORT_MODELS.split(",").map((s) => parseModelArg(s.trim()));
  if (env.CHATPORT_PARALLEL) out.parallel = num(env.CHATPORT_PARALLEL);
  if (env.CHATPORT_CTX) out.ctx = num(env.CHATPORT_CTX);
  if (env.CHATPORT_THREADS) out.threads = num(env.CHATPORT_THREADS);
  if (env.CHATPORT_MAX_WAITING) out.maxWaiting = num(env.CHATPORT_MAX_WAITING);
  if (env.CHATPORT_PREFILL_CHUNK) out.prefillChunk = num(env.CHATPORT_PREFILL_CHUNK);
  if (env.CHATPORT_BODY_LIMIT) out.bodyLimit = num(env.CHATPORT_BODY_LIMIT);
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

export function resolveConfig(
  flags: Partial<Record<keyof ServeConfig, unknown>>,
  configFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ServeConfig {
  const merged = { ...defaultConfig(), ...(configFile === undefined ? {} : fromFile(configFile)), ...fromEnv(env) };
  for (const [key, value] of Object.entries(flags)) if (value !== undefined) Object.assign(merged, { [key]: value });
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new Error(`Invalid configuration: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}
