/**
 * POST /v1/chat/completions: parse, route to an engine, and render its events
 * as one JSON body or as an SSE stream through the same response builder.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import type { ChatEvent } from "../../protocol/chat-events.js";
import { parseChatRequest } from "../../protocol/chat-request.js";
import { ChatResponseBuilder } from "../../protocol/chat-response.js";
import { toApiError } from "../../protocol/errors.js";
import { SseWriter } from "../sse-writer.js";

/** Aborts when the client goes away before the response is complete. */
function disconnectSignal(request: FastifyRequest, reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  request.raw.on("aborted", () => controller.abort(new Error("client aborted")));
  return controller;
}

export function registerChatCompletions(app: FastifyInstance, registry: ModelRegistry): void {
  app.post("/v1/chat/completions", async (request, reply) => {
    const chat = parseChatRequest(request.body);
    const engine = registry.resolve(chat.model);
    const builder = new ChatResponseBuilder({
      model: chat.model,
      systemFingerprint: engine.systemFingerprint,
      n: chat.n,
      includeUsage: chat.includeUsage,
      fullText: chat.extras.fullText,
      usageTimings: chat.extras.usageTimings,
      logprobs: chat.logprobs !== null,
      legacyFunctions: chat.tools.legacy,
    });
    const disconnect = disconnectSignal(request, reply);
    const events = engine.generate(chat, disconnect.signal);

    // Refusals (context length, overload, bad schema) surface on the first
    // event, before any byte is sent, so they still get a proper status.
    const first = await events.next();

    if (!chat.stream) {
      if (!first.done) builder.accept(first.value);
      for await (const event of events) builder.accept(event);
      return reply.header("x-request-id", request.id).send(builder.completion());
    }

    reply.hijack();
    const sse = new SseWriter(reply.raw, { "x-request-id": request.id });
    const forward = async (event: ChatEvent): Promise<void> => {
      for (const chunk of builder.accept(event)) await sse.send(chunk);
    };
    try {
      if (!first.done) await forward(first.value);
      for await (const event of events) {
        if (sse.closed) break;
        await forward(event);
      }
      await sse.done();
    } catch (err) {
      const apiError = toApiError(err);
      if (apiError.status >= 500) request.log.error({ err }, "stream failed");
      await sse.send(apiError.toBody());
      sse.end();
    } finally {
      await events.return();
    }
    return reply;
  });
}
