/**
 * GET /health: liveness, requests in flight, open connections and per-model
 * load; no auth. GET /health/ready: readiness for a load balancer — 200 when
 * this replica's storage (the database, and Redis when limits live there)
 * answers, 503 + Retry-After naming what does not; no auth.
 */
import type { FastifyInstance } from "fastify";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import type { Counters } from "../../limits/types.js";
import { STORAGE_RETRY_AFTER_SECONDS, StorageUnavailableError } from "../../protocol/errors.js";
import type { Store } from "../../store/types.js";

/** A storage check that has not answered within this counts as down (load balancers probe with short timeouts). */
export const READINESS_TIMEOUT_MS = 2_000;

export interface HealthDeps {
  registry: ModelRegistry;
  store: Store;
  counters: Counters;
}

type CheckResult = "ok" | "unreachable";

/** Runs one check within READINESS_TIMEOUT_MS. */
async function probe(check: () => Promise<void>): Promise<CheckResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<CheckResult>((resolve) => {
    timer = setTimeout(() => resolve("unreachable"), READINESS_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      check().then(
        (): CheckResult => "ok",
        (): CheckResult => "unreachable",
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealth(app: FastifyInstance, deps: HealthDeps): void {
  const { registry, store, counters } = deps;
  app.get("/health", async () => {
    const connections = await new Promise<number>((resolve) => app.server.getConnections((err, n) => resolve(err ? -1 : n)));
    return {
      status: "ok",
      inflight: app.inflight.size,
      connections,
      models: registry.list().map((engine) => ({ id: engine.card.id, ...engine.load() })),
    };
  });

  // Logged when readiness changes, not on every probe of a load balancer.
  let wasReady = true;
  app.get("/health/ready", async (request, reply) => {
    const [database, redis] = await Promise.all([probe(() => store.ping()), probe(() => counters.ping())]);
    const isReady = database === "ok" && redis === "ok";
    if (isReady !== wasReady) {
      wasReady = isReady;
      if (isReady) request.log.info("ready: storage reachable again");
      else request.log.warn({ checks: { database, redis } }, "not ready: storage unreachable");
    }
    if (isReady) return { status: "ready", checks: { database, redis } };
    const down = database !== "ok" ? "database" : "redis";
    const error = new StorageUnavailableError(down, `readiness: ${down} did not answer within ${READINESS_TIMEOUT_MS} ms`);
    return reply.code(503).headers({ "retry-after": String(STORAGE_RETRY_AFTER_SECONDS) }).send(error.toBody());
  });
}
