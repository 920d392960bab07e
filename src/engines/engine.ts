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

/** What a grammar was compiled for: a response_format, or tool calls (tools' parameters). */
export type GrammarKind = "response_format" | "tool_calls";

/** What an engine reports about grammar-constrained outputs, for metrics. */
export interface StructuredOutputObserver {
  /** A grammar was compiled (not served from the cache), taking `seconds`. */
  grammarCompiled(model: string, kind: GrammarKind, seconds: number): void;
  /** A grammar was looked up in the cache. */
  grammarLookup(model: string, kind: GrammarKind, hit: boolean): void;
  /** A finished constrained output was checked against its schemas. */
  outputChecked(model: string, kind: GrammarKind, valid: boolean): void;
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
  /** Engines that constrain outputs with grammars report to `observer` (local models). */
  observeStructuredOutputs?(observer: StructuredOutputObserver): void;
  close(): Promise<void>;
}
