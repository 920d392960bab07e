/** GET /v1/models and GET /v1/models/{id} (ids may contain slashes), aliases included. */
import type { FastifyInstance } from "fastify";
import type { Engine } from "../../engines/engine.js";
import type { Gatekeeper } from "../../gateway/gatekeeper.js";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import { modelNotFound } from "../../protocol/errors.js";

function modelObject(id: string, engine: Engine): { id: string; object: "model"; created: number; owned_by: string } {
  return { id, object: "model", created: engine.card.created, owned_by: engine.card.ownedBy };
}

/** Lists only the models the caller's key may use; others look like they do not exist. */
export function registerModels(app: FastifyInstance, registry: ModelRegistry, gatekeeper: Gatekeeper): void {
  app.get("/v1/models", async (request) => ({
    object: "list",
    data: registry
      .publicIds()
      .filter(({ id }) => gatekeeper.mayUse(request.caller, id, registry.canonical(id)))
      .map(({ id, engine }) => modelObject(id, engine)),
  }));
  app.get<{ Params: { "*": string } }>("/v1/models/*", async (request) => {
    const id = request.params["*"];
    if (!gatekeeper.mayUse(request.caller, id, registry.canonical(id))) throw modelNotFound(id);
    return modelObject(id, registry.resolve(id));
  });
}
