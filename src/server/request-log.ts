/**
 * One log line per request, written when its response is done: method, path
 * (no query string), status, milliseconds and the model asked for — and the
 * request id, which every line of the request carries. Fastify's own pair of
 * "incoming request" / "request completed" lines is off.
 *
 * The dashboard polls `/admin/*` every 1.5 s and a load balancer or Prometheus
 * polls `/health` and `/metrics`: successful reads there are logged at
 * `debug`, so `info` stays one line per API call, write and failure.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";

/** Read-only routes that clients poll: their successful GETs are debug lines. */
const POLLED = /^\/(admin\/|metrics$|health(\/|$)|dashboard(\/|$))/;

const MAX_MODEL_CHARS = 200;

function requestedModel(request: FastifyRequest): string | undefined {
  const body = request.body;
  if (typeof body !== "object" || body === null || !("model" in body)) return undefined;
  const model = (body as { model: unknown }).model;
  return typeof model === "string" ? model.slice(0, MAX_MODEL_CHARS) : undefined;
}

export function isPolledRead(method: string, path: string, status: number): boolean {
  return (method === "GET" || method === "HEAD") && status < 400 && POLLED.test(path);
}

export function registerRequestLog(app: FastifyInstance): void {
  app.addHook("onResponse", async (request: FastifyRequest, reply: FastifyReply) => {
    const path = request.url.split("?", 1)[0] ?? request.url;
    const status = reply.statusCode;
    const line = { method: request.method, url: path, status, ms: Math.round(reply.elapsedTime * 10) / 10, model: requestedModel(request) };
    if (isPolledRead(request.method, path, status)) request.log.debug(line, "request");
    else request.log.info(line, "request");
  });
}
