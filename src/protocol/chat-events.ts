/**
 * The events every engine yields for a chat request. They live in protocol/
 * because the response builders consume them; engines depend on this file,
 * never the other way round.
 */

export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter";

export interface UsageCounts {
  promptTokens: number;
  /** Sum over choices of every sampled token (end-of-generation tokens included). */
  completionTokens: number;
  /** Prompt tokens of the first choice served from a sequence's KV cache. */
  cachedTokens: number;
  reasoningTokens: number;
  /** ms from admission to the first sampled token (any choice). */
  prefillMs: number;
  /** ms between consecutive tokens of choice 0. */
  decodeMs: number[];
}

export type ChatEvent =
  | { type: "delta"; index: number; content: string }
  | { type: "finish"; index: number; reason: FinishReason }
  | { type: "usage"; usage: UsageCounts };
