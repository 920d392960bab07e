/** `chatport serve`: load the configured models and serve the OpenAI API. */
import { readFile, stat } from "node:fs/promises";
import { Command } from "commander";
import pino from "pino";
import { resolveConfig, type ServeConfig } from "../config.js";
import { EmbeddingEngine } from "../engines/llama/embedding-engine.js";
import { LlamaEngine } from "../engines/llama/llama-engine.js";
import { getRuntime } from "../engines/llama/llama-runtime.js";
import { resolveModelSource } from "../engines/llama/model-source.js";
import { Gatekeeper } from "../gateway/gatekeeper.js";
import { GatewayMetrics } from "../gateway/metrics.js";
import { ModelRegistry } from "../gateway/model-registry.js";
import { providersFrom, upstreamModelsFrom } from "../gateway/upstream-config.js";
import { ProviderPool } from "../upstream/provider-pool.js";
import { UpstreamEngine } from "../upstream/upstream-engine.js";
import { buildServer } from "../server/app.js";
import { settingKeys } from "../settings.js";
import { addSettingOptions, settingFlagValues } from "./setting-options.js";
import { openGatewayStorage } from "./storage.js";

export async function serve(config: ServeConfig): Promise<void> {
  const logger = pino({ level: config.logLevel, redact: ["req.headers.authorization", "apiKey", "adminKey", "secret"] });
  const { store, counters } = await openGatewayStorage(config);
  logger.info({ database: store.dialect, counters: config.redisUrl === null ? "memory" : "redis" }, "gateway storage ready");
  const gatekeeper = new Gatekeeper({ keys: store.keys, ledger: store.ledger, counters, staticKey: config.apiKey, adminKey: config.adminKey });
  const registry = new ModelRegistry();
  const providers = new ProviderPool(providersFrom(config), { breaker: config.breaker });
  for (const model of upstreamModelsFrom(config)) registry.add(new UpstreamEngine(model, providers), model.prices);
  // llama.cpp is loaded only when there are local models: a pure gateway never touches it.
  const llama = config.models.length > 0 || config.embeddingModels.length > 0 ? await getRuntime(logger, config.llamaBuild) : null;
  const modelFile = async (spec: { id: string; source: string }): Promise<string> => {
    let nextReport = 0;
    return resolveModelSource(spec.source, {
      cacheDir: config.cacheDir,
      progressBar: process.stderr.isTTY === true,
      stallSeconds: config.downloadStallSeconds,
      onFetch: ({ source, host, cacheDir }) => logger.info({ model: spec.id, source, from: host, cacheDir }, "model not in the cache: downloading it"),
      onProgress: (done, total) => {
        if (process.stderr.isTTY === true || total <= 0 || done < nextReport) return;
        nextReport = done + total / 10;
        logger.info({ model: spec.id, downloadedMB: Math.round(done / 1e6), totalMB: Math.round(total / 1e6) }, "downloading model");
      },
    });
  };
  let earlierModelsBytes = 0;
  for (const spec of config.models) {
    if (llama === null) break;
    const modelPath = await modelFile(spec);
    registry.add(
      await LlamaEngine.load(llama, {
        id: spec.id,
        modelPath,
        chatTemplate: spec.chatTemplate === undefined ? null : await readFile(spec.chatTemplate, "utf8"),
        parallel: config.parallel,
        contextSize: config.ctx,
        earlierModelsBytes,
        threads: config.threads,
        maxWaiting: config.maxWaiting,
        prefillChunk: config.prefillChunk,
        batchSize: config.batchSize,
        flashAttention: config.flashAttention,
        kvCacheType: config.kvCacheType,
        maxStall: config.maxStall,
        logger,
      }),
      spec.prices,
    );
    earlierModelsBytes += (await stat(modelPath)).size;
  }
  for (const spec of config.embeddingModels) {
    if (llama === null) break;
    const engine = await EmbeddingEngine.load(llama, {
      id: spec.id,
      modelPath: await modelFile(spec),
      parallel: config.parallel,
      contextSize: config.ctx,
      threads: config.threads,
      maxWaiting: config.maxWaiting,
      matryoshka: spec.matryoshka === true,
      logger,
    });
    registry.add(engine, spec.prices);
  }
  for (const [alias, target] of Object.entries(config.aliases)) registry.addAlias(alias, target);
  for (const [model, chain] of Object.entries(config.fallbacks)) registry.setFallbacks(model, chain);
  const metrics = new GatewayMetrics();
  metrics.attach(registry, providers);
  const app = buildServer({
    registry,
    metrics,
    deployments: () => providers.snapshot(),
    logger,
    store,
    counters,
    gatekeeper,
    adminKey: config.adminKey,
    bodyLimit: config.bodyLimit,
    corsOrigins: config.corsOrigins,
    clientTimeoutMs: config.clientTimeoutMs,
    keepAliveTimeoutMs: config.keepAliveTimeoutMs,
    responseRetentionHours: config.responseRetentionHours,
    responseMaxBytes: config.responseMaxBytes,
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  logger.info(
    {
      host: config.host,
      port,
      models: config.models.map((m) => m.id),
      embeddingModels: config.embeddingModels.map((m) => m.id),
      upstreamModels: config.upstreamModels.map((m) => m.id),
      providers: config.providers.map((p) => p.id),
      staticKey: config.apiKey !== null,
      admin: config.adminKey !== null,
      cors: config.corsOrigins,
    },
    "chatport listening",
  );

  /**
   * Graceful shutdown: stop accepting (new requests on open connections get
   * 503), let in-flight requests finish for up to shutdownGraceMs, then cut
   * the rest (they are metered as disconnected); wait for every ledger row,
   * flush the ledger, close the database and exit 0.
   */
  let closing = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (closing) return;
    closing = true;
    logger.info({ signal, inflight: app.inflight.size, graceMs: config.shutdownGraceMs }, "shutting down: finishing in-flight requests");
    const cut = setTimeout(() => {
      logger.warn({ inflight: app.inflight.size }, "grace period over: cutting in-flight requests");
      app.server.closeAllConnections();
    }, config.shutdownGraceMs);
    try {
      await app.close();
      clearTimeout(cut);
      if (!(await app.inflight.drained(5000))) logger.warn({ inflight: app.inflight.size }, "requests still running after their connections closed");
      await registry.close();
      await providers.close();
      await store.close();
      await counters.close();
      logger.info("shut down cleanly");
      process.exit(0);
    } catch (err) {
      logger.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
}

/** Every setting of the table but the storage-only ones the other commands share is a flag here too. */
export function serveCommand(): Command {
  const command = new Command("serve")
    .description("Serve OpenAI-compatible chat completions from GGUF models and upstream servers")
    .option("--config <file>", "JSON config file (keys as in the README's configuration table)");
  return addSettingOptions(command, settingKeys).action(async (flags: { config?: string }, self: Command) => {
    await serve(resolveConfig(settingFlagValues(self), flags.config));
  });
}
