/**
 * The Anthropic Messages API: POST /v1/messages (the Messages surface on the
 * one dispatch path — gateway/dispatcher.ts does lookup, admission, the
 * engine and metering; protocol/anthropic-messages-*.ts the wire format) and
 * POST /v1/messages/count_tokens (the prompt as the model's template renders
 * it, counted by `Engine.prepare`; for upstream models, counted by a
 * provider that serves the Messages API, else estimated; no generation, no
 * ledger row).
 *
 * Its own guarded scope: the key comes in `x-api-key` (Anthropic's SDKs) or
 * `Authorization: Bearer`, and every error of these routes — the
 * authentication hook's included — is rendered in Anthropic's shape
 * (`config.errorEnvelope`). `anthropic-version` and `anthropic-beta` are
 * accepted and need not be sent.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Dispatcher } from "../../gateway/dispatcher.js";
import type { Gatekeeper } from "../../gateway/gatekeeper.js";
import type { ModelRegistry } from "../../gateway/model-registry.js";
import { bearerToken } from "../../gateway/secrets.js";
import { anthropicErrorEnvelope } from "../../protocol/anthropic-errors.js";
import { parseAnthropicCountTokensRequest, parseAnthropicMessagesRequest, type AnthropicMessagesRequest } from "../../protocol/anthropic-messages-request.js";
import { AnthropicMessagesEncoder } from "../../protocol/anthropic-messages-response.js";
import type { ApiSurface } from "../../protocol/api-surface.js";
import { ApiError, modelNotFound } from "../../protocol/errors.js";
import { dispatchRequest, disconnectSignal, sendDispatch } from "../dispatch-route.js";
import type { RouteGuard } from "../route-guard.js";

export interface MessagesRouteDeps {
  dispatcher: Dispatcher;
  registry: ModelRegistry;
  gatekeeper: Gatekeeper;
}

/** The key a Messages request presents: `x-api-key`, else `Authorization: Bearer`. */
export function presentedKey(request: FastifyRequest): string | null {
  const header = request.headers["x-api-key"];
  const key = (Array.isArray(header) ? header[0] : header)?.trim();
  return key !== undefined && key !== "" ? key : bearerToken(request.headers.authorization);
}

/** A refused key's message tells an Anthropic client where its key goes (the Gatekeeper's speaks of Bearer only). */
function withKeyHint(err: unknown): unknown {
  if (!(err instanceof ApiError) || err.code !== "invalid_api_key") return err;
  const message = err.message.replace("Pass it as `Authorization: Bearer <key>`.", "Pass it in the `x-api-key` header (or as `Authorization: Bearer <key>`).");
  return new ApiError(err.status, err.type, message, { param: err.param, code: err.code, headers: err.headers });
}

function peekModel(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const model = (body as { model?: unknown }).model;
  return typeof model === "string" ? model : null;
}

export function registerMessages(app: FastifyInstance, guard: RouteGuard, deps: MessagesRouteDeps): void {
  void app.register(async (scope) => {
    guard.guard(scope, async (request) => {
      try {
        request.caller = await deps.gatekeeper.authenticateKey(presentedKey(request));
      } catch (err) {
        throw withKeyHint(err);
      }
    });
    const config = { errorEnvelope: anthropicErrorEnvelope };

    scope.post("/v1/messages", { config }, async (request, reply) => {
      const done = app.inflight.begin();
      try {
        let parsed: AnthropicMessagesRequest | null = null;
        const surface: ApiSurface = {
          api: "messages",
          parse: (body, options) => {
            parsed = parseAnthropicMessagesRequest(body, options);
            return parsed.chat;
          },
          encoder: (context) => new AnthropicMessagesEncoder(context),
          error: (err) => (parsed as AnthropicMessagesRequest | null)?.error(err) ?? err,
        };
        const dispatch = await dispatchRequest(deps.dispatcher, surface, request, reply, disconnectSignal(request, reply));
        const encoder = surface.encoder({ request: dispatch.request, systemFingerprint: dispatch.engine.systemFingerprint, promptTokens: dispatch.prompt.promptTokens });
        return await sendDispatch(app, request, reply, surface, dispatch, encoder);
      } finally {
        done();
      }
    });

    scope.post("/v1/messages/count_tokens", { config }, async (request, reply) => {
      const peeked = peekModel(request.body);
      const target = peeked === null ? null : deps.registry.lookup(peeked);
      const parsed = parseAnthropicCountTokensRequest(request.body, { media: target?.engine.card.acceptsMedia === true });
      const route = target !== null && target.id === parsed.chat.model ? target : deps.registry.lookup(parsed.chat.model);
      if (route === null) throw modelNotFound(parsed.chat.model);
      deps.gatekeeper.checkModel(request.caller, route.id, route.canonical);
      try {
        const prepared = await route.engine.prepare(parsed.chat);
        // The model's own server counts exactly where it can (an upstream serving the Messages API); else the prompt as prepared.
        const exact = (await route.engine.countPromptTokens?.(parsed.chat, disconnectSignal(request, reply))) ?? null;
        return { input_tokens: exact ?? prepared.promptTokens };
      } catch (err) {
        throw err instanceof ApiError ? parsed.error(err) : err;
      }
    });
  });
}
