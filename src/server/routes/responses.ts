/**
 * POST /v1/responses: the Responses surface on the one dispatch path
 * (gateway/dispatcher.ts: lookup, admission, the engine, metering;
 * protocol/responses-request.ts and responses-response.ts: the wire format).
 */
import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../gateway/dispatcher.js";
import type { ApiSurface } from "../../protocol/api-surface.js";
import { parseResponsesRequest, toResponsesError, type ResponsesRequest } from "../../protocol/responses-request.js";
import { ResponsesEncoder } from "../../protocol/responses-response.js";
import { dispatchRequest, disconnectSignal, sendDispatch } from "../dispatch-route.js";

export interface ResponsesRouteDeps {
  dispatcher: Dispatcher;
}

export function registerResponses(app: FastifyInstance, deps: ResponsesRouteDeps): void {
  app.post("/v1/responses", async (request, reply) => {
    const done = app.inflight.begin();
    try {
      // The surface for this one request: the parse keeps the Responses fields the encoder echoes.
      let parsed: ResponsesRequest | null = null;
      const surface: ApiSurface = {
        parse: (body, options) => {
          parsed = parseResponsesRequest(body, options);
          return parsed.chat;
        },
        encoder: (context) => {
          if (parsed === null) throw new Error("encoder before parse");
          return new ResponsesEncoder(parsed, context);
        },
        error: toResponsesError,
      };
      const dispatch = await dispatchRequest(deps.dispatcher, surface, request, reply, disconnectSignal(request, reply));
      const encoder = surface.encoder({ request: dispatch.request, systemFingerprint: dispatch.engine.systemFingerprint });
      return await sendDispatch(app, request, reply, surface, dispatch, encoder);
    } finally {
      done();
    }
  });
}
