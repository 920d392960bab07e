/**
 * The HTTP surface: a Fastify app with the OpenAI routes, the API-key hook
 * and one error handler that turns everything into the OpenAI envelope.
 */
import { randomUUID } from "node:crypto";
import cors from "@fastify/cors";
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, LogController } from "fastify";
import type { Logger } from "pino";
import { Dispatcher } from "../gateway/dispatcher.js";
import type { Caller, Gatekeeper } from "../gateway/gatekeeper.js";
import type { GatewayMetrics } from "../gateway/metrics.js";
import type { ModelRegistry } from "../gateway/model-registry.js";
import type { Counters } from "../limits/types.js";
import { openAiErrorEnvelope, type ErrorEnvelope } from "../protocol/error-envelope.js";
import { ApiError, overloaded, toApiError } from "../protocol/errors.js";
import type { Store } from "../store/types.js";
import type { DeploymentSnapshot } from "../upstream/provider-pool.js";
import { InflightRequests } from "./inflight.js";
import { registerRequestLog } from "./request-log.js";
import { registerAdmin } from "./routes/admin.js";
import { registerChatCompletions } from "./routes/chat-completions.js";
import { registerCompletions } from "./routes/completions.js";
import { defaultDashboardRoot, registerDashboard } from "./routes/dashboard.js";
import { registerEmbeddings } from "./routes/embeddings.js";
import { registerHealth } from "./routes/health.js";
import { registerMessages } from "./routes/messages.js";
import { registerModels } from "./routes/models.js";
import { registerResponses } from "./routes/responses.js";
import { RouteGuard } from "./route-guard.js";

declare module "fastify" {
  interface FastifyRequest {
    /** Set by the authentication hook of the /v1 routes (null elsewhere). */
    caller: Caller;
  }
  interface FastifyInstance {
    /** How long a stream write may wait for a client that stopped reading. */
    clientTimeoutMs: number;
    /** Chat requests being handled (shutdown waits for them). */
    inflight: InflightRequests;
  }
  interface FastifyContextConfig {
    /** How this route renders its errors (absent: OpenAI's envelope). */
    errorEnvelope?: ErrorEnvelope;
  }
}

export interface ServerOptions {
  registry: ModelRegistry;
  metrics: GatewayMetrics;
  logger: Logger;
  store: Store;
  /** The limit counters (for the readiness check). */
  counters: Counters;
  gatekeeper: Gatekeeper;
  adminKey: string | null;
  /** Largest accepted request body, bytes. */
  bodyLimit: number;
  /** CORS origins; empty = no CORS headers at all. */
  corsOrigins: readonly string[];
  /** Headers within this, the body within 3×, no stream write stalled longer than this. */
  clientTimeoutMs: number;
  /** How long an idle keep-alive connection stays open (default 65 s). */
  keepAliveTimeoutMs?: number;
  /** How long a stored Responses API response lives (0: until deleted). */
  responseRetentionHours: number;
  /** Largest stored response, its conversation included (JSON bytes). */
  responseMaxBytes: number;
  /** Upstream deployments' state, for /admin/models. */
  deployments: () => DeploymentSnapshot[];
}

/** Largest request head (request line + headers) accepted; more gets 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

const POISONED_BODY = "CHATPORT_POISONED_BODY";

/** Fastify's own client errors (bad JSON, too large, wrong content type) in OpenAI shape. */
function fromFastifyError(err: FastifyError): ApiError | null {
  const status = err.statusCode ?? 500;
  if (status === 413) {
    return new ApiError(413, "invalid_request_error", "The request body is too large.", { code: "request_too_large" });
  }
  if (err.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") {
    return new ApiError(415, "invalid_request_error", "Content-Type must be application/json.", { code: "unsupported_media_type" });
  }
  if (status >= 400 && status < 500) {
    const message = err.code === POISONED_BODY
      ? "The request body contains a forbidden key (__proto__ or constructor.prototype)."
      : err.code?.startsWith("FST_ERR_CTP") === true
        ? "The request body is not valid JSON."
        : err.message;
    return new ApiError(status, "invalid_request_error", message, { code: "invalid_body" });
  }
  return null;
}

export function buildServer(options: ServerOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: options.logger as FastifyBaseLogger,
    // One line per request instead of Fastify's two: request-log.ts.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimit,
    requestIdHeader: "x-request-id",
    genReqId: () => randomUUID(),
    // Slow clients: headers must arrive within clientTimeoutMs and the whole
    // request within 3× (Node does not apply these to an idle keep-alive
    // socket). An idle keep-alive socket is closed after keepAliveTimeoutMs:
    // longer than the client's or the load balancer's own idle timeout, so
    // that they close first — a server that closes first races the client's
    // next request on that socket (a "Connection error" / a load balancer's 502).
    http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: options.clientTimeoutMs, connectionsCheckingInterval: 1000 },
    requestTimeout: options.clientTimeoutMs * 3,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 65_000,
    // Our own 503 (below) speaks OpenAI's envelope; Fastify's would not.
    return503OnClosing: false,
    // A path the router cannot decode (bad percent-encoding) or a path segment
    // too long for it: refused before any route is matched, in OpenAI's
    // envelope, without echoing the path.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const tooLong = error.code === "FST_ERR_MAX_PARAM_LENGTH";
      const apiError = new ApiError(
        tooLong ? 414 : 400,
        "invalid_request_error",
        tooLong ? "A segment of the request path is too long." : "The request path is not a valid URL (malformed percent-encoding).",
        { code: "invalid_url" },
      );
      void reply.code(apiError.status).header("x-request-id", request.id).send(apiError.toBody());
    },
  });
  app.decorate("clientTimeoutMs", options.clientTimeoutMs);
  app.decorate("inflight", new InflightRequests());
  registerRequestLog(app);

  if (options.corsOrigins.length > 0) {
    void app.register(cors, {
      origin: options.corsOrigins.includes("*") ? true : [...options.corsOrigins],
      methods: ["GET", "POST", "PATCH", "DELETE"],
      allowedHeaders: ["authorization", "content-type", "x-request-id", "x-api-key", "anthropic-version"],
      exposedHeaders: ["x-request-id", "retry-after", "x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests", "x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens"],
      maxAge: 600,
    });
  }

  // The API speaks JSON only; anything else is a 415 rather than a string body.
  app.removeContentTypeParser("text/plain");
  // Fastify's own JSON parser (prototype-poisoning keys refused), with a clearer
  // error when that is why a body was refused.
  const parseJson = app.getDefaultJsonParser("error", "error");
  app.removeContentTypeParser("application/json");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    const text = String(body);
    // No body at all is no body (clients send the JSON content type on a bodyless POST such as a revoke),
    // not malformed JSON; routes that need one say so in their own words.
    if (text === "") {
      done(null, undefined);
      return;
    }
    parseJson(request, text, (err, value) => {
      if (err !== null && /"(__proto__|constructor)"/.test(text)) {
        done(Object.assign(new Error("forbidden key"), { statusCode: 400, code: POISONED_BODY }), undefined);
      } else done(err, value);
    });
  });

  app.setErrorHandler((err: FastifyError, request, reply) => {
    const apiError = err instanceof ApiError ? err : (fromFastifyError(err) ?? toApiError(err));
    if (apiError.status >= 500) request.log.error({ err }, "request failed");
    const rendered = (request.routeOptions.config.errorEnvelope ?? openAiErrorEnvelope).render(apiError);
    void reply.code(rendered.status).headers(rendered.headers).send(rendered.body);
  });
  app.setNotFoundHandler((request, reply) => {
    const err = new ApiError(404, "invalid_request_error", `Unknown route: ${request.method} ${request.url.split("?")[0]}`, {
      code: "unknown_url",
    });
    void reply.code(404).send(err.toBody());
  });

  // Shutting down: requests that still arrive on open connections are refused.
  let closing = false;
  app.addHook("preClose", async () => {
    closing = true;
  });
  app.addHook("onRequest", async (_request, reply) => {
    if (!closing) return;
    void reply.header("connection", "close");
    throw overloaded("The server is shutting down. Retry on another replica.", 1);
  });

  // Fastify wants decorators declared up front; the /v1 scope's hook sets it on each of its requests.
  app.decorateRequest("caller", null as unknown as Caller);
  // Routes under /v1 and /admin are served only from scopes whose own hook authenticates.
  const guard = new RouteGuard(app, ["/v1", "/admin"]);

  registerHealth(app, { registry: options.registry, store: options.store, counters: options.counters });
  // Every response carries its request id (the client's x-request-id, or ours).
  app.addHook("onSend", async (request, reply) => {
    void reply.header("x-request-id", request.id);
  });
  app.addHook("onResponse", async (request, reply) => {
    options.metrics.observeHttp(request.method, request.routeOptions.url ?? "unmatched", reply.statusCode);
  });
  app.get("/metrics", async (_request, reply) => {
    const { contentType, body } = await options.metrics.render();
    return reply.type(contentType).send(body);
  });

  // One dispatch path for every API surface.
  const dispatcher = new Dispatcher({
    registry: options.registry,
    gatekeeper: options.gatekeeper,
    ledger: options.store.ledger,
    metrics: options.metrics,
  });
  // The OpenAI API: authenticated by the hook of this scope, whatever spelling of a path the router matched.
  void app.register(async (api) => {
    guard.guard(api, async (request) => {
      request.caller = await options.gatekeeper.authenticate(request.headers.authorization);
    });
    registerModels(api, options.registry, options.gatekeeper);
    registerChatCompletions(api, dispatcher);
    registerCompletions(api, dispatcher);
    registerEmbeddings(api, dispatcher);
    registerResponses(api, {
      dispatcher,
      responses: options.store.responses,
      retentionMs: options.responseRetentionHours * 3_600_000,
      maxBytes: options.responseMaxBytes,
    });
  });
  // The Anthropic Messages API: its own scope, authenticated by x-api-key as well as Bearer, errors in Anthropic's shape.
  registerMessages(app, guard, { dispatcher, registry: options.registry, gatekeeper: options.gatekeeper });
  registerAdmin(app, guard, {
    store: options.store,
    gatekeeper: options.gatekeeper,
    adminKey: options.adminKey,
    registry: options.registry,
    metrics: options.metrics,
    deployments: options.deployments,
  });
  registerDashboard(app, { root: defaultDashboardRoot() });
  return app;
}
