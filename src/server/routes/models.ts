/** GET /v1/models and GET /v1/models/{id} (ids may contain slashes). */
import type { FastifyInstance } from "fastify";
import type { Engine } from "../../engines/engine.js";
import type { ModelRegistry } from "../../gateway/model-registry.js";

function modelObject(engine: Engine): { id: string; object: "model"; created: number; owned_by: string } {
  return { id: engine.card.id, object: "model", created: engine.card.created, owned_by: engine.card.ownedBy };
}

export function registerModels(app: FastifyInstance, registry: ModelRegistry): void {
  app.get("/v1/models", async () => ({ object: "list", data: registry.list().map(modelObject) }));
  app.get<{ Params: { "*": string } }>("/v1/models/*", async (request) => modelObject(registry.resolve(request.params["*"])));
}
