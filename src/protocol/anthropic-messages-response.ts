/**
 * The Messages API's output: the engine's events → Anthropic's `message`
 * object (non-streaming) or its named SSE events (streaming). One encoder
 * for both, as for chat.
 *
 * Content blocks appear in the order the model produces them: `thinking`,
 * `text`, `tool_use` (ids `toolu_…`, `input` the parsed arguments). A stream
 * is `message_start`, `ping`, then per block `content_block_start`, its
 * deltas (`thinking_delta`, `text_delta`, `input_json_delta`) and
 * `content_block_stop`, then — once the ledger row is committed —
 * `message_delta` (stop reason, usage) and `message_stop`; a failure after
 * the start is `event: error` in Anthropic's error shape.
 *
 * Usage follows Anthropic's accounting: `input_tokens` are the prompt tokens
 * not read from the cache, `cache_read_input_tokens` those a local model
 * reused from its prefix cache (their sum is the prompt), and
 * `cache_creation_input_tokens` is 0 (nothing is written on request).
 * Thinking blocks carry an empty `signature`: nothing here signs thoughts.
 */
import { anthropicErrorBody } from "./anthropic-errors.js";
import type { EncoderContext, ResponseEncoder, WireFrame } from "./api-surface.js";
import type { ChatEvent, FinishReason, UsageCounts } from "./chat-events.js";
import type { ApiError } from "./errors.js";
import { newItemId } from "./ids.js";

export type AnthropicStopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "refusal";

export type AnthropicContentBlock =
  | { type: "text"; text: string; citations: null }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: Record<string, unknown> };

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  service_tier: "standard";
}

export interface AnthropicMessage {
  id: string;
  type: "message";
  role: "assistant";
  model: string;
  content: AnthropicContentBlock[];
  stop_reason: AnthropicStopReason | null;
  stop_sequence: string | null;
  usage: AnthropicUsage;
}

/** `msg_` + 32 hex digits. */
const newMessageId = (): string => newItemId("msg");
/** `toolu_` + 32 hex digits: Anthropic's tool-use ids, whatever the engine called the call. */
const newToolUseId = (): string => `toolu_${newItemId("fc").slice(3)}`;

export function toAnthropicUsage(usage: UsageCounts): AnthropicUsage {
  const cached = Math.min(usage.cachedTokens, usage.promptTokens);
  return {
    input_tokens: usage.promptTokens - cached,
    output_tokens: usage.completionTokens,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: cached,
    service_tier: "standard",
  };
}

function stopReason(reason: FinishReason, stop: string | undefined): AnthropicStopReason {
  switch (reason) {
    case "length":
      return "max_tokens";
    case "tool_calls":
      return "tool_use";
    case "content_filter":
      return "refusal";
    case "stop":
      return stop === undefined ? "end_turn" : "stop_sequence";
  }
}

/** A tool call's arguments → its `input` object (a call whose text is not a JSON object keeps it under `arguments`, never lost). */
function toolInput(args: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(args === "" ? "{}" : args);
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // not JSON: below
  }
  return { arguments: args };
}

interface OpenBlock {
  index: number;
  kind: "text" | "thinking" | "tool_use";
  /** For tool_use: the engine's call index. */
  call?: number;
}

export class AnthropicMessagesEncoder implements ResponseEncoder {
  readonly id = newMessageId();
  readonly terminator = null;
  private readonly context: EncoderContext;
  private readonly blocks: AnthropicContentBlock[] = [];
  /** Tool-use blocks' argument text as it arrives. */
  private readonly argumentText = new Map<number, string>();
  private current: OpenBlock | null = null;
  private reason: AnthropicStopReason | null = null;
  private stopSequence: string | null = null;
  private usage: UsageCounts | null = null;

  constructor(context: EncoderContext) {
    this.context = context;
  }

  open(): WireFrame[] {
    const promptTokens = this.context.promptTokens ?? 0;
    const start: AnthropicMessage = { ...this.message(), content: [], stop_reason: null, stop_sequence: null };
    start.usage = { ...start.usage, input_tokens: promptTokens, output_tokens: 0 };
    return [frame("message_start", { message: start }), frame("ping", {})];
  }

  accept(event: ChatEvent): WireFrame[] {
    if (event.type === "usage") {
      this.usage = event.usage;
      return [];
    }
    if (event.index !== 0) throw new Error(`event for unknown choice ${event.index}`);
    if (event.type === "finish") {
      this.reason = stopReason(event.reason, event.stop);
      this.stopSequence = event.stop ?? null;
      return this.close();
    }
    const frames: WireFrame[] = [];
    if (event.reasoning !== undefined && event.reasoning !== "") {
      const index = this.ensure("thinking", frames);
      (this.blocks[index] as { thinking: string }).thinking += event.reasoning;
      frames.push(frame("content_block_delta", { index, delta: { type: "thinking_delta", thinking: event.reasoning } }));
    }
    if (event.content !== undefined && event.content !== "") {
      const index = this.ensure("text", frames);
      (this.blocks[index] as { text: string }).text += event.content;
      frames.push(frame("content_block_delta", { index, delta: { type: "text_delta", text: event.content } }));
    }
    for (const delta of event.toolCalls ?? []) {
      const index = this.ensure("tool_use", frames, delta.index, delta.name);
      if (delta.arguments !== undefined && delta.arguments !== "") {
        this.argumentText.set(index, (this.argumentText.get(index) ?? "") + delta.arguments);
        frames.push(frame("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: delta.arguments } }));
      }
    }
    return frames;
  }

  finish(): WireFrame[] {
    const frames = this.close();
    const message = this.message();
    frames.push(
      frame("message_delta", {
        delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
        usage: message.usage,
      }),
      frame("message_stop", {}),
    );
    return frames;
  }

  failed(error: ApiError): WireFrame[] {
    return [{ event: "error", data: anthropicErrorBody(error) }];
  }

  body(): AnthropicMessage {
    this.close();
    return this.message();
  }

  private message(): AnthropicMessage {
    const content = this.blocks.map((block, index) =>
      block.type === "tool_use" ? { ...block, input: toolInput(this.argumentText.get(index) ?? "") } : { ...block },
    );
    return {
      id: this.id,
      type: "message",
      role: "assistant",
      model: this.context.request.model,
      content,
      stop_reason: this.reason,
      stop_sequence: this.stopSequence,
      usage: this.usage === null ? toAnthropicUsage({ promptTokens: this.context.promptTokens ?? 0, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0, prefillMs: 0, decodeMs: [] }) : toAnthropicUsage(this.usage),
    };
  }

  /** The block an event of `kind` goes to: the open one when it is that block, else a new one (closing the open one). */
  private ensure(kind: OpenBlock["kind"], frames: WireFrame[], call?: number, name?: string): number {
    const open = this.current;
    if (open !== null && open.kind === kind && open.call === call) return open.index;
    frames.push(...this.close());
    const block: AnthropicContentBlock =
      kind === "text"
        ? { type: "text", text: "", citations: null }
        : kind === "thinking"
          ? { type: "thinking", thinking: "", signature: "" }
          : { type: "tool_use", id: newToolUseId(), name: name ?? "", input: {} };
    this.blocks.push(block);
    const index = this.blocks.length - 1;
    this.current = { index, kind, ...(call !== undefined ? { call } : {}) };
    frames.push(frame("content_block_start", { index, content_block: { ...block } }));
    return index;
  }

  private close(): WireFrame[] {
    const open = this.current;
    if (open === null) return [];
    this.current = null;
    return [frame("content_block_stop", { index: open.index })];
  }
}

function frame(type: string, payload: Record<string, unknown>): WireFrame {
  return { event: type, data: { type, ...payload } };
}
