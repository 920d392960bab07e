/**
 * Validated config → the upstream layer's types: defaults filled in and
 * provider keys read from the environment variables the config names (the
 * config itself never holds a key, and the keys are never logged).
 */
import type { ServeConfig } from "../config.js";
import type { ProviderConfig, UpstreamModelConfig } from "../upstream/types.js";

export const upstreamDefaults = {
  timeouts: { connectMs: 5_000, firstByteMs: 60_000, idleMs: 60_000 },
  maxConcurrent: 64,
  healthCheckMs: 10_000,
  retries: 2,
  contextLength: 32_768,
};

export function providersFrom(config: ServeConfig, env: NodeJS.ProcessEnv = process.env): ProviderConfig[] {
  return config.providers.map((p) => {
    const apiKey = p.apiKeyEnv === undefined ? null : (env[p.apiKeyEnv] ?? null);
    return {
      id: p.id,
      baseUrl: p.baseUrl.replace(/\/+$/, ""),
      apiKey: apiKey === "" ? null : apiKey,
      timeouts: { ...upstreamDefaults.timeouts, ...p.timeouts },
      maxConcurrent: p.maxConcurrent ?? upstreamDefaults.maxConcurrent,
      headers: p.headers ?? {},
      healthCheckMs: p.healthCheckMs ?? upstreamDefaults.healthCheckMs,
      apis: p.apis ?? [],
    };
  });
}

export function upstreamModelsFrom(config: ServeConfig): UpstreamModelConfig[] {
  return config.upstreamModels.map((m) => ({
    id: m.id,
    deployments: m.deployments.map((d) => ({ provider: d.provider, model: d.model, weight: d.weight ?? 1, priority: d.priority ?? 0 })),
    strategy: m.strategy ?? "least-outstanding",
    retries: m.retries ?? upstreamDefaults.retries,
    contextLength: m.contextLength ?? upstreamDefaults.contextLength,
    acceptsMedia: m.acceptsMedia ?? false,
    prices: m.prices,
  }));
}
