/**
 * An API surface (chat completions, responses, …) as the one dispatch path
 * sees it: how its wire request becomes the internal {@link ChatRequest}, and
 * how the internal events become its wire output — SSE frames while
 * streaming, one JSON body otherwise. Pure: no I/O. The dispatcher
 * (gateway/dispatcher.ts) does lookup, admission, the engine and metering the
 * same way for every surface; the route only does HTTP.
 */
import type { ChatEvent } from "./chat-events.js";
import type { ChatRequest, ParseOptions } from "./chat-request.js";
import type { ApiError } from "./errors.js";

/** One server-sent event: `event: <event>` when named, then `data: <json>`. */
export interface WireFrame {
  event?: string;
  data: unknown;
}

/** What a surface's encoder knows of the request it answers once the dispatcher has chosen the model. */
export interface EncoderContext {
  /** The request as it is served: the model that serves it (after aliases and fallbacks), max tokens capped. */
  request: ChatRequest;
  systemFingerprint: string;
  /** Prompt tokens as the engine prepared them (estimated upstream), for surfaces that announce them before the usage event. */
  promptTokens?: number;
}

/** Internal events → one response's wire output. Streaming and non-streaming share it, so they cannot disagree. */
export interface ResponseEncoder {
  /** The response id (`chatcmpl-…`, `resp_…`): the ledger row's key. */
  readonly id: string;
  /** Frames that open a stream, before any event. */
  open(): WireFrame[];
  /** Records an event; returns the frames it becomes while streaming (possibly none). */
  accept(event: ChatEvent): WireFrame[];
  /** Frames that close a stream whose engine ended and whose row is committed. */
  finish(): WireFrame[];
  /** Frames that close a stream that failed after it began. */
  failed(error: ApiError): WireFrame[];
  /** Written after the last frame of a stream that ended well (`[DONE]` for chat), or null. */
  readonly terminator: string | null;
  /** The non-streaming body, once every event has been accepted. */
  body(): unknown;
}

/** The APIs requests come in by: the `api` label of `chatport_requests_total`. */
export type ApiName = "chat" | "responses" | "messages" | "completions" | "embeddings";

export interface ApiSurface {
  /** Which API this is (metrics count requests per API). */
  readonly api: ApiName;
  /** Untrusted JSON → the internal request, or a 400 whose `param` names the field. */
  parse(body: unknown, options: ParseOptions): ChatRequest;
  encoder(context: EncoderContext): ResponseEncoder;
  /** An error naming an internal (chat) field → the same error in this surface's own field names. */
  error(err: ApiError): ApiError;
}
