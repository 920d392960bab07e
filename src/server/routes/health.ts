/** GET /health: liveness plus per-model load, no auth. */
import type { FastifyInstance } from "fastify";
import type { ModelRegistry } from "../../gateway/model-registry.js";

export function registerHealth(app: FastifyInstance, registry: ModelRegistry): void {
  app.get("/health", async () => ({
    status: "ok",
    models: registry.list().map((engine) => ({ id: engine.card.id, ...engine.load() })),
  }));
}
