/**
 * POST /v1/chat/completions: parse, admit (key limits and budget), route to an
 * engine, render its events as one JSON body or an SSE stream through the same
 * response builder, and meter the request into the ledger before the
 * response is complete.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { PreparedChat } from "../../engines/engine.js";
import { noLimits, type Admission, type Gatekeeper } from "../../gateway/gatekeeper.js";
import type { GatewayMetrics } from "../../gateway/metrics.js";
import { RequestMeter } from "../../gateway/metering.js";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import type { ChatEvent } from "../../protocol/chat-events.js";
import { parseChatRequest, type ChatRequest } from "../../protocol/chat-request.js";
import { ChatResponseBuilder } from "../../protocol/chat-response.js";
import { toApiError } from "../../protocol/errors.js";
import type { Ledger } from "../../store/types.js";
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

export interface ChatRouteDeps {
  registry: ModelRegistry;
  gatekeeper: Gatekeeper;
  ledger: Ledger;
  metrics: GatewayMetrics;
}

/** The `model` field of a body not yet validated, to pick the parse options of its engine. */
function peekModel(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const model = (body as { model?: unknown }).model;
  return typeof model === "string" ? model : null;
}

export function registerChatCompletions(app: FastifyInstance, deps: ChatRouteDeps): void {
  const { registry, gatekeeper, ledger, metrics } = deps;

  app.post("/v1/chat/completions", async (request, reply) => {
    const done = app.inflight.begin();
    try {
      return await handle(request, reply);
    } finally {
      done();
    }
  });

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const peeked = peekModel(request.body);
    const target = peeked === null ? null : registry.tryResolve(peeked);
    const parsed = parseChatRequest(request.body, { media: target?.card.acceptsMedia === true });
    const engine = registry.resolve(parsed.model);
    const canonical = registry.canonical(parsed.model);
    gatekeeper.checkModel(request.caller, parsed.model, canonical);
    const startMeter = (admission: Admission): RequestMeter =>
      new RequestMeter({
        ledger,
        admission,
        requestId: request.id,
        keyId: request.caller.key?.id ?? null,
        keyName: request.caller.key?.name ?? "none",
        metrics,
        model: canonical,
        stream: parsed.stream,
        prices: registry.prices(canonical),
        elapsed: () => reply.elapsedTime,
      });

    // The requested model, then its fallbacks (those this key may use) when a
    // model refuses the prompt as too long for its context.
    const candidates = [
      parsed.model,
      ...registry.fallbacks(parsed.model).filter((id) => gatekeeper.mayUse(request.caller, id, registry.canonical(id))),
    ];
    const requestFor = (id: string): ChatRequest => (id === parsed.model ? parsed : { ...parsed, model: id });
    const isLastFallback = (i: number, err: unknown): boolean => {
      if (toApiError(err).code !== "context_length_exceeded" || i >= candidates.length - 1) return true;
      request.log.info({ model: candidates[i], fallback: candidates[i + 1] }, "context length exceeded, falling back");
      return false;
    };

    // The prompt is rendered and counted before admission: the key's token
    // window and budget reserve it, with the completion they let through.
    let start = 0;
    let prepared: PreparedChat | null = null;
    for (const [i, id] of candidates.entries()) {
      try {
        prepared = await registry.resolve(id).prepare(requestFor(id));
        start = i;
        break;
      } catch (err) {
        if (!isLastFallback(i, err)) continue;
        // A request the model refused (too long, bad token id, bad schema) still gets its row.
        const refused = startMeter(noLimits);
        refused.setModel(registry.canonical(id), registry.prices(id));
        await refused.finish({ status: "error", httpStatus: toApiError(err).status });
        throw err;
      }
    }
    if (prepared === null) throw new Error("no candidate model");
    const admission = await gatekeeper.admit(request.caller, {
      model: parsed.model,
      canonical,
      n: parsed.n,
      maxTokens: parsed.maxTokens,
      prompt: prepared,
      prices: registry.prices(candidates[start]!),
    });
    // The key's limits cap the completion; the client sees finish_reason "length" when they bite.
    const capped =
      admission.maxTokens === null || (parsed.maxTokens !== null && parsed.maxTokens <= admission.maxTokens)
        ? parsed
        : { ...parsed, maxTokens: admission.maxTokens };

    const meter = startMeter(admission);
    const disconnect = disconnectSignal(request, reply);

    let chat = capped;
    let served = engine;
    let events: AsyncGenerator<ChatEvent, void, void> | null = null;
    let first: IteratorResult<ChatEvent, void> | null = null;
    for (const [i, id] of candidates.entries()) {
      if (i < start) continue;
      served = registry.resolve(id);
      chat = id === parsed.model ? capped : { ...capped, model: id };
      meter.setModel(registry.canonical(id), registry.prices(id));
      events = served.generate(chat, disconnect.signal, i === start ? prepared : undefined);
      try {
        // Refusals (context length, overload, bad schema) surface on the first
        // event, before any byte is sent, so they still get a proper status.
        first = await events.next();
        break;
      } catch (err) {
        if (!isLastFallback(i, err)) continue;
        await meter.finish({ status: "error", httpStatus: toApiError(err).status });
        throw err;
      }
    }
    if (events === null || first === null) throw new Error("no candidate model");
    const generator = events;

    const builder = new ChatResponseBuilder({
      model: chat.model,
      systemFingerprint: served.systemFingerprint,
      n: chat.n,
      includeUsage: chat.includeUsage,
      fullText: chat.extras.fullText,
      usageTimings: chat.extras.usageTimings,
      logprobs: chat.logprobs !== null,
      legacyFunctions: chat.tools.legacy,
    });
    meter.setCompletionId(builder.id);
    const headers = { ...admission.headers, "x-request-id": request.id };
    const note = (event: ChatEvent): void => {
      if (event.type === "delta") meter.firstToken();
      else if (event.type === "usage") meter.setUsage(event.usage);
    };
    const outcome = (): "ok" | "client_disconnected" => (disconnect.signal.aborted ? "client_disconnected" : "ok");

    try {
      if (!chat.stream) {
        try {
          if (!first.done) {
            note(first.value);
            builder.accept(first.value);
          }
          for await (const event of generator) {
            note(event);
            builder.accept(event);
          }
        } catch (err) {
          await meter.finish({ status: "error", httpStatus: toApiError(err).status });
          throw err;
        }
        await meter.finish({ status: outcome(), httpStatus: 200 });
        return reply.headers(headers).send(builder.completion());
      }

      reply.hijack();
      const sse = new SseWriter(reply.raw, headers, app.clientTimeoutMs);
      // The engine's usage event comes before it has ended, and a failure may
      // still follow it: its chunk is held back until the engine is done and
      // the row — saying how the stream really ended — is committed.
      let usage: ChatEvent | null = null;
      const forward = async (event: ChatEvent): Promise<void> => {
        note(event);
        if (event.type === "usage") {
          usage = event;
          return;
        }
        if (sse.closed) return;
        for (const chunk of builder.accept(event)) await sse.send(chunk);
      };
      const sendUsage = async (): Promise<void> => {
        if (usage === null || sse.closed) return;
        for (const chunk of builder.accept(usage)) await sse.send(chunk);
      };
      try {
        if (!first.done) await forward(first.value);
        // After a disconnect keep draining: the engine stops at once and its
        // final usage event says what was generated, for the ledger.
        for await (const event of generator) await forward(event);
        await meter.finish({ status: outcome(), httpStatus: 200 });
      } catch (err) {
        // The engine failed (or the row could not be written): the stream ends
        // with an error event and no [DONE], never as a success.
        const apiError = toApiError(err);
        if (apiError.status >= 500) request.log.error({ err }, "stream failed");
        let metered = false;
        try {
          await meter.finish({ status: disconnect.signal.aborted ? "client_disconnected" : "error", httpStatus: 200 });
          metered = true;
        } catch (meterErr) {
          if (meterErr !== err) request.log.error({ err: meterErr }, "ledger write failed");
        }
        if (metered) await sendUsage();
        await sse.send(apiError.toBody());
        sse.end();
        return reply;
      }
      await sendUsage();
      await sse.done();
      return reply;
    } finally {
      await generator.return();
    }
  }
}
