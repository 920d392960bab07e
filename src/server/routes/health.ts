/** GET /health: liveness, requests in flight, open connections and per-model load; no auth. */
import type { FastifyInstance } from "fastify";
import type { ModelRegistry } from "../../gateway/model-registry.js";

export function registerHealth(app: FastifyInstance, registry: ModelRegistry): void {
  app.get("/health", async () => {
    const connections = await new Promise<number>((resolve) => app.server.getConnections((err, n) => resolve(err ? -1 : n)));
    return {
      status: "ok",
      inflight: app.inflight.size,
      connections,
      models: registry.list().map((engine) => ({ id: engine.card.id, ...engine.load() })),
    };
  });
}
