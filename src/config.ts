/**
 * Server configuration: defaults < config file (JSON) < environment
 * (CHATPORT_*) < command-line flags, every setting as declared in the table
 * of settings.ts. Validated with zod; a bad value is a clear startup error,
 * never a half-started server.
 */
import fs from "node:fs";
import { z } from "zod";
import {
  defaultModel,
  defaultSettings,
  modelPricesSchema,
  modelSpecSchema,
  parseModelArg,
  settingsFromEnv,
  settingsSchema,
  type ModelSpec,
  type ProviderSpec,
  type SettingKey,
  type UpstreamModelSpec,
} from "./settings.js";

export { defaultModel, modelPricesSchema, modelSpecSchema, parseModelArg, type ModelSpec, type ProviderSpec, type UpstreamModelSpec };

/** The resolved configuration: every setting but the `--upstream` shortcut, which has become providers and upstream models. */
export const configSchema = settingsSchema.omit({ upstream: true });

export type ServeConfig = z.infer<typeof configSchema>;
export type ModelPrices = z.infer<typeof modelPricesSchema>;

/** A layer of settings (flags, environment, config file): what it gives, unvalidated. */
export type SettingsLayer = Partial<Record<SettingKey, unknown>>;

function fromFile(file: string): SettingsLayer {
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

export function resolveConfig(flags: SettingsLayer, configFile: string | undefined, env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const file = configFile === undefined ? {} : fromFile(configFile);
  const fromEnvironment = settingsFromEnv(env);
  const { upstream: envUpstream, ...environment } = fromEnvironment;
  const { upstream: flagUpstream, ...plain } = flags;
  const merged: Record<string, unknown> = { ...defaultSettings(), ...file, ...environment };
  delete merged.upstream;
  for (const [key, value] of Object.entries(plain)) if (value !== undefined) merged[key] = value;
  // The --upstream shortcuts add up: the environment's and the flags'.
  const upstreamArgs = [envUpstream, flagUpstream].flatMap((list) => (Array.isArray(list) ? (list as unknown[]).map(String) : []));
  Object.assign(merged, withUpstreamArgs(merged, upstreamArgs));
  // The default local model is only for a server given no models at all.
  const modelsChosen = file.models !== undefined || environment.models !== undefined || plain.models !== undefined;
  if (!modelsChosen && Array.isArray(merged.upstreamModels) && merged.upstreamModels.length > 0) merged.models = [];
  if (!modelsChosen && Array.isArray(merged.embeddingModels) && merged.embeddingModels.length > 0) merged.models = [];
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new Error(`Invalid configuration: ${z.prettifyError(parsed.error)}`);
  const config = withChatTemplates(parsed.data);
  checkModelIds(config);
  // llama.cpp cannot keep quantized values without flash attention.
  if (config.kvCacheType !== "f16" && !config.flashAttention) {
    throw new Error(`Invalid configuration: --kv-cache-type ${config.kvCacheType} needs flash attention (--flash-attn on)`);
  }
  return config;
}

/** `--chat-template ID=FILE`: the file becomes that local model's `chatTemplate`. */
function withChatTemplates(config: ServeConfig): ServeConfig {
  const models = config.models.map((m) => ({ ...m }));
  for (const arg of config.chatTemplates) {
    const eq = arg.indexOf("=");
    const id = arg.slice(0, eq);
    const model = models.find((m) => m.id === id);
    if (model === undefined) throw new Error(`Invalid configuration: --chat-template names ${JSON.stringify(id)}, which is not a local model`);
    model.chatTemplate = arg.slice(eq + 1);
  }
  return { ...config, models };
}

/** Ids are unique across local models, upstream models and aliases; every reference points somewhere. */
function checkModelIds(config: ServeConfig): void {
  const ids = new Set<string>();
  for (const id of [...config.models.map((m) => m.id), ...config.upstreamModels.map((m) => m.id), ...config.embeddingModels.map((m) => m.id), ...Object.keys(config.aliases)]) {
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
