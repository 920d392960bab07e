/**
 * POST /v1/completions (legacy completions): the completions surface on the
 * one dispatch path (gateway/dispatcher.ts does lookup, admission, the engine
 * and metering; protocol/completions-*.ts the wire format).
 */
import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../gateway/dispatcher.js";
import { completionsSurface } from "../../protocol/completions-surface.js";
import { dispatchRequest, disconnectSignal, sendDispatch } from "../dispatch-route.js";

export function registerCompletions(app: FastifyInstance, dispatcher: Dispatcher): void {
  app.post("/v1/completions", async (request, reply) => {
    const done = app.inflight.begin();
    try {
      const surface = completionsSurface();
      const dispatch = await dispatchRequest(dispatcher, surface, request, reply, disconnectSignal(request, reply));
      // An upstream answers best_of with its n best; a local engine generates every candidate.
      const encoder = surface.encoderFor({ request: dispatch.request, systemFingerprint: dispatch.engine.systemFingerprint }, dispatch.engine.kind === "upstream");
      return await sendDispatch(app, request, reply, surface, dispatch, encoder);
    } finally {
      done();
    }
  });
}
