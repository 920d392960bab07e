/**
 * The contract between the HTTP surface and anything that produces tokens.
 *
 * An engine takes a normalised {@link ChatRequest} and yields events; the
 * server turns the same events into either one JSON body or SSE chunks, so
 * streaming and non-streaming responses cannot disagree.
 *
 * Errors that are the request's fault (context too long, bad token id,
 * unsupported schema) or overload are thrown as ApiError *before* the first
 * event, so the server can still answer with a proper HTTP status.
 *
 * Once a request is admitted, its last event is always `usage` with what was
 * generated, also when it was cancelled or failed (the error follows it), so
 * the gateway meters every token.
 */
import type { ChatEvent } from "../protocol/chat-events.js";
import type { ChatRequest } from "../protocol/chat-request.js";

export interface ModelCard {
  id: string;
  created: number;
  ownedBy: string;
  /** Tokens one sequence can hold (prompt + completion). */
  contextLength: number;
  /** Takes image/audio/file content parts (upstream multimodal models); local models are text-only. */
  acceptsMedia?: boolean;
}

export interface Engine {
  readonly card: ModelCard;
  /** Stable for a model file + build; goes out as `system_fingerprint`. */
  readonly systemFingerprint: string;
  generate(request: ChatRequest, signal: AbortSignal): AsyncGenerator<ChatEvent, void, void>;
  /** Sequences busy and requests waiting, for /health. */
  load(): { active: number; waiting: number; capacity: number };
  /** Tokens held in the KV cache and its size (local models), for metrics. */
  kvCache?(): { used: number; size: number };
  close(): Promise<void>;
}
