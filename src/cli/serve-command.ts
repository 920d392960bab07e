/** `chatport serve`: load the configured models and serve the OpenAI API. */
import { Command, InvalidArgumentError, Option } from "commander";
import pino from "pino";
import { parseModelArg, resolveConfig, type ModelSpec, type ServeConfig } from "../config.js";
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
import { openGatewayStorage } from "./storage.js";

function intArg(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer.`);
    return n;
  };
}

interface ServeFlags {
  config?: string;
  model: ModelSpec[];
  upstream: string[];
  host?: string;
  port?: number;
  apiKey?: string;
  adminKey?: string;
  databaseUrl?: string;
  dbPath?: string;
  redisUrl?: string;
  cors?: string[];
  parallel?: number;
  ctx?: number;
  threads?: number;
  maxWaiting?: number;
  prefillChunk?: number;
  batchSize?: number;
  maxStall?: number;
  flashAttn?: "on" | "off";
}

export async function serve(config: ServeConfig): Promise<void> {
  const logger = pino({ level: config.logLevel, redact: ["req.headers.authorization", "apiKey", "adminKey", "secret"] });
  const { store, counters } = await openGatewayStorage(config);
  logger.info({ database: store.dialect, counters: config.redisUrl === null ? "memory" : "redis" }, "gateway storage ready");
  const gatekeeper = new Gatekeeper({ keys: store.keys, ledger: store.ledger, counters, staticKey: config.apiKey, adminKey: config.adminKey });
  const registry = new ModelRegistry();
  const providers = new ProviderPool(providersFrom(config), { breaker: config.breaker });
  for (const model of upstreamModelsFrom(config)) registry.add(new UpstreamEngine(model, providers), model.prices);
  // llama.cpp is loaded only when there are local models: a pure gateway never touches it.
  const llama = config.models.length > 0 ? await getRuntime(logger) : null;
  for (const spec of config.models) {
    if (llama === null) break;
    let nextReport = 0;
    const modelPath = await resolveModelSource(spec.source, {
      cacheDir: config.cacheDir,
      progressBar: process.stderr.isTTY === true,
      stallSeconds: config.downloadStallSeconds,
      onProgress: (done, total) => {
        if (process.stderr.isTTY === true || total <= 0 || done < nextReport) return;
        nextReport = done + total / 10;
        logger.info({ model: spec.id, downloadedMB: Math.round(done / 1e6), totalMB: Math.round(total / 1e6) }, "downloading model");
      },
    });
    registry.add(
      await LlamaEngine.load(llama, {
        id: spec.id,
        modelPath,
        parallel: config.parallel,
        contextSize: config.ctx,
        threads: config.threads,
        maxWaiting: config.maxWaiting,
        prefillChunk: config.prefillChunk,
        // Never more than the whole cache: node-llama-cpp sizes its buffers by it.
        batchSize: Math.min(config.batchSize, config.parallel * config.ctx),
        flashAttention: config.flashAttention,
        maxStall: config.maxStall,
        logger,
      }),
      spec.prices,
    );
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
  });
  await app.listen({ host: config.host, port: config.port });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : config.port;
  logger.info(
    {
      host: config.host,
      port,
      models: config.models.map((m) => m.id),
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

export function serveCommand(): Command {
  return new Command("serve")
    .description("Serve OpenAI-compatible chat completions from GGUF models")
    .option("--config <file>", "JSON config file")
    .option(
      "--model <ID=SOURCE>",
      "model to serve: ID=./file.gguf or ID=hf:owner/repo/file.gguf (repeatable)",
      (value: string, previous: ModelSpec[]) => [...previous, parseModelArg(value)],
      [] as ModelSpec[],
    )
    .option(
      "--upstream <ID=URL[#MODEL]>",
      "route model ID to an OpenAI-compatible server at URL (its model name MODEL, default ID; key from CHATPORT_UPSTREAM_API_KEY) (repeatable)",
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option("--cors <origins>", "comma-separated origins allowed to call from a browser (`*` for any; default: CORS off)", (v: string) =>
      v.split(",").map((o) => o.trim()).filter((o) => o !== ""),
    )
    .option("--host <host>", "address to listen on (default 127.0.0.1)")
    .option("--port <port>", "port (default 8000; 0 picks a free one)", intArg("--port"))
    .option("--api-key <key>", "a static key accepted on /v1 routes with no limits (managed keys: `chatport keys`)")
    .option("--admin-key <key>", "enables the /admin/ API (keys, usage) for `Authorization: Bearer <key>`")
    .option("--database-url <url>", "postgres://… for PostgreSQL (default: SQLite at --db-path)")
    .option("--db-path <file>", "SQLite file for keys and the ledger (default .chatport/chatport.sqlite)")
    .option("--redis-url <url>", "redis://… to share rate-limit counters and revocations between replicas")
    .option("--parallel <n>", "sequences decoded together per model (default 4)", intArg("--parallel"))
    .option("--ctx <n>", "context tokens per sequence (default 4096)", intArg("--ctx"))
    .option("--threads <n>", "CPU threads (default: the cores this process may use)", intArg("--threads"))
    .option("--max-waiting <n>", "requests that may queue per model before 503 (default 64)", intArg("--max-waiting"))
    .option("--prefill-chunk <n>", "experimental: prompt tokens per batch while others decode, oldest prompt first (default 0: node-llama-cpp's scheduling)", intArg("--prefill-chunk"))
    .option("--batch-size <n>", "tokens per llama.cpp decode: prompts waiting together are prefilled together up to this (default 2048)", intArg("--batch-size"))
    .option("--max-stall <x>", "while others decode, a step that also prefills takes at most this × a decode-only step (0: no limit)", Number)
    .addOption(new Option("--flash-attn <mode>", "flash attention (default on)").choices(["on", "off"]))
    .action(async (flags: ServeFlags) => {
      const config = resolveConfig(
        {
          host: flags.host,
          port: flags.port,
          apiKey: flags.apiKey,
          adminKey: flags.adminKey,
          databaseUrl: flags.databaseUrl,
          dbPath: flags.dbPath,
          redisUrl: flags.redisUrl,
          corsOrigins: flags.cors,
          models: flags.model.length > 0 ? flags.model : undefined,
          upstream: flags.upstream,
          parallel: flags.parallel,
          ctx: flags.ctx,
          threads: flags.threads,
          maxWaiting: flags.maxWaiting,
          prefillChunk: flags.prefillChunk,
          batchSize: flags.batchSize,
          maxStall: flags.maxStall,
          flashAttention: flags.flashAttn === undefined ? undefined : flags.flashAttn === "on",
        },
        flags.config,
      );
      await serve(config);
    });
}
