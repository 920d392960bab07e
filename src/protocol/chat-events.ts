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
  /** Of completionTokens, those spent inside a thought (tags included). */
  reasoningTokens: number;
  /** ms from admission to the first sampled token (any choice). */
  prefillMs: number;
  /** ms between consecutive tokens of choice 0. */
  decodeMs: number[];
  /** True when the counts are an estimate (an upstream that reported no usage), not a tokenizer's; absent = exact. */
  estimated?: boolean;
}

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  topLogprobs: TopLogprob[];
}

/**
 * A token of a legacy completion's echoed prompt (`echo` with `logprobs`):
 * the first token of a prompt has no logprob and no alternatives (nothing
 * precedes it), as OpenAI and vLLM answer.
 */
export interface PromptTokenLogprob {
  /** Its text as it stands in the echoed prompt (special tokens: empty). */
  token: string;
  logprob: number | null;
  topLogprobs: TopLogprob[] | null;
}

/** One streamed piece of a tool call: the first for a call has id and name, later ones argument text. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

export interface ChatDelta {
  type: "delta";
  index: number;
  content?: string;
  reasoning?: string;
  toolCalls?: ToolCallDelta[];
  /** Logprobs of the tokens whose text this delta releases. */
  logprobs?: TokenLogprob[];
  /**
   * Legacy completions with echo: the logprobs of the echoed prompt's tokens,
   * in the delta whose content is the echo (before any generated token's).
   * An upstream's echoed answer comes whole here, as its legacy logprobs do
   * not say where the prompt ends.
   */
  promptLogprobs?: PromptTokenLogprob[];
}

export type ChatEvent =
  | ChatDelta
  | { type: "finish"; index: number; reason: FinishReason; /** The client's stop sequence that ended the choice (local models; upstreams do not say). */ stop?: string }
  | { type: "usage"; usage: UsageCounts };
