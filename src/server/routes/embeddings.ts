/**
 * POST /v1/embeddings: the dispatcher's embeddings path (lookup, the key's
 * model list, admission, the engine, one ledger row) and the body of
 * protocol/embeddings-response.ts. Always one JSON body: embeddings do not stream.
 */
import type { FastifyInstance } from "fastify";
import type { Dispatcher } from "../../gateway/dispatcher.js";
import { embeddingsBody } from "../../protocol/embeddings-response.js";
import { disconnectSignal } from "../dispatch-route.js";

export function registerEmbeddings(app: FastifyInstance, dispatcher: Dispatcher): void {
  app.post("/v1/embeddings", async (request, reply) => {
    const done = app.inflight.begin();
    try {
      const served = await dispatcher.embed({
        caller: request.caller,
        requestId: request.id,
        body: request.body,
        signal: disconnectSignal(request, reply),
        elapsed: () => reply.elapsedTime,
        log: {
          info: (fields, message) => request.log.info(fields, message),
          error: (fields, message) => request.log.error(fields, message),
        },
      });
      const { embeddings } = served;
      return await reply.headers(served.headers).send(embeddingsBody(served.model, embeddings.vectors, served.request.encoding, embeddings.usage.promptTokens));
    } finally {
      done();
    }
  });
}
