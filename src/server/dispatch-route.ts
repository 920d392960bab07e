/**
 * The HTTP half of the one dispatch path: a route for an {@link ApiSurface}
 * hands the body to the {@link Dispatcher} and writes what comes back — one
 * JSON body, or an SSE stream — through one sink loop. Status codes come from
 * the errors the dispatcher throws before the first event (rendered by the
 * app's error handler); after a stream began, an error is the surface's own
 * closing frames.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Dispatch, Dispatcher } from "../gateway/dispatcher.js";
import type { ApiSurface, ResponseEncoder } from "../protocol/api-surface.js";
import { ApiError, toApiError } from "../protocol/errors.js";
import { SseWriter } from "./sse-writer.js";

/** Aborts when the client goes away before the response is complete. */
export function disconnectSignal(request: FastifyRequest, reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) controller.abort(new Error("client disconnected"));
  });
  request.raw.on("aborted", () => controller.abort(new Error("client aborted")));
  return controller.signal;
}

/** Dispatches one request of `surface` on behalf of the authenticated caller; refusals in the surface's own terms. */
export async function dispatchRequest(
  dispatcher: Dispatcher,
  surface: ApiSurface,
  request: FastifyRequest,
  reply: FastifyReply,
  signal: AbortSignal,
): Promise<Dispatch> {
  try {
    return await dispatch(dispatcher, surface, request, reply, signal);
  } catch (err) {
    throw err instanceof ApiError ? surface.error(err) : err;
  }
}

function dispatch(dispatcher: Dispatcher, surface: ApiSurface, request: FastifyRequest, reply: FastifyReply, signal: AbortSignal): Promise<Dispatch> {
  return dispatcher.dispatch({
    caller: request.caller,
    requestId: request.id,
    body: request.body,
    api: surface.api,
    parse: surface.parse,
    signal,
    elapsed: () => reply.elapsedTime,
    log: {
      info: (fields, message) => request.log.info(fields, message),
      error: (fields, message) => request.log.error(fields, message),
    },
  });
}

/**
 * The sink loop: a dispatch's events through its encoder, as JSON or SSE.
 * `beforeEnd` runs once the engine has ended well and its row is committed,
 * before the end of the response is sent (a surface that stores responses
 * stores it there, so a client never sees a response it could not continue).
 */
export async function sendDispatch(
  app: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  surface: ApiSurface,
  dispatch: Dispatch,
  encoder: ResponseEncoder,
  beforeEnd: () => Promise<void> = async () => {},
): Promise<FastifyReply> {
  dispatch.setResponseId(encoder.id);
  const headers = { ...dispatch.headers, "x-request-id": request.id };
  try {
    if (!dispatch.request.stream) {
      for await (const event of dispatch.events()) encoder.accept(event);
      await beforeEnd();
      return reply.headers(headers).send(encoder.body());
    }
    reply.hijack();
    const sse = new SseWriter(reply.raw, headers, app.clientTimeoutMs);
    try {
      for (const frame of encoder.open()) await sse.send(frame.data, frame.event);
      for await (const event of dispatch.events()) {
        const frames = encoder.accept(event);
        if (sse.closed) continue;
        for (const frame of frames) await sse.send(frame.data, frame.event);
      }
      await beforeEnd();
    } catch (err) {
      // The engine failed (or the row could not be written): the stream ends
      // with the surface's error frames, never as a success.
      const apiError = toApiError(err);
      if (apiError.status >= 500) request.log.error({ err }, "stream failed");
      for (const frame of encoder.failed(surface.error(apiError))) await sse.send(frame.data, frame.event);
      sse.end();
      return reply;
    }
    for (const frame of encoder.finish()) await sse.send(frame.data, frame.event);
    if (encoder.terminator === null) sse.end();
    else await sse.done(encoder.terminator);
    return reply;
  } finally {
    await dispatch.close();
  }
}

/** A POST route for a surface whose request needs nothing but the dispatch (chat completions). */
export function registerDispatchRoute(app: FastifyInstance, url: string, surface: ApiSurface, dispatcher: Dispatcher): void {
  app.post(url, async (request, reply) => {
    const done = app.inflight.begin();
    try {
      const dispatch = await dispatchRequest(dispatcher, surface, request, reply, disconnectSignal(request, reply));
      return await sendDispatch(app, request, reply, surface, dispatch, surface.encoder({ request: dispatch.request, systemFingerprint: dispatch.engine.systemFingerprint }));
    } finally {
      done();
    }
  });
}
