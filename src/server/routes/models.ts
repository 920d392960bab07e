/** GET /v1/models and GET /v1/models/{id} (ids may contain slashes). */
import type { FastifyInstance } from "fastify";
import type { Engine } from "../../engines/engine.js";
import type { Gatekeeper } from "../../gateway/gatekeeper.js";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import { modelNotFound } from "../../protocol/errors.js";

function modelObject(engine: Engine): { id: string; object: "model"; created: number; owned_by: string } {
  return { id: engine.card.id, object: "model", created: engine.card.created, owned_by: engine.card.ownedBy };
}

/** Lists only the models the caller's key may use; others look like they do not exist. */
export function registerModels(app: FastifyInstance, registry: ModelRegistry, gatekeeper: Gatekeeper): void {
  app.get("/v1/models", async (request) => ({
    object: "list",
    data: registry
      .list()
      .filter((e) => gatekeeper.mayUse(request.caller, e.card.id))
      .map(modelObject),
  }));
  app.get<{ Params: { "*": string } }>("/v1/models/*", async (request) => {
    const id = request.params["*"];
    if (!gatekeeper.mayUse(request.caller, id)) throw modelNotFound(id);
    return modelObject(registry.resolve(id));
  });
}
