/**
 * The Responses API's output: the engine's events → the `response` object
 * (non-streaming) or its typed SSE events, each with a `sequence_number`
 * (streaming). One encoder for both, as for chat.
 *
 * Output items appear in the order the model produces them: a `reasoning`
 * item (its thought as `reasoning_text`), a `message` item (`output_text`),
 * `function_call` items. A stream opens with `response.created` and
 * `response.in_progress`, adds each item and its content part, streams its
 * deltas, closes it (`….done`, `response.output_item.done`) and ends with
 * `response.completed` (or `response.incomplete` when max_output_tokens cut
 * it) once the ledger row is committed; a failure after the start is an
 * `error` event followed by `response.failed`.
 */
import type { EncoderContext, ResponseEncoder, WireFrame } from "./api-surface.js";
import type { ChatEvent, FinishReason, TokenLogprob, UsageCounts } from "./chat-events.js";
import type { ApiError } from "./errors.js";
import { newCallId, newItemId, newResponseId } from "./ids.js";
import type { ResponsesRequest } from "./responses-request.js";

export interface WireOutputLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export interface WireOutputText {
  type: "output_text";
  text: string;
  annotations: unknown[];
  logprobs: WireOutputLogprob[];
}

export type ItemStatus = "in_progress" | "completed" | "incomplete";

export type WireOutputItem =
  | { type: "message"; id: string; status: ItemStatus; role: "assistant"; content: WireOutputText[] }
  | { type: "function_call"; id: string; call_id: string; name: string; arguments: string; status: ItemStatus }
  | { type: "reasoning"; id: string; summary: Array<{ type: "summary_text"; text: string }>; content: Array<{ type: "reasoning_text"; text: string }>; status: ItemStatus };

export interface WireResponseUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

export type ResponseStatus = "in_progress" | "completed" | "incomplete" | "failed";

export interface WireResponse {
  id: string;
  object: "response";
  created_at: number;
  status: ResponseStatus;
  background: boolean;
  error: { code: string; message: string } | null;
  incomplete_details: { reason: "max_output_tokens" } | null;
  instructions: string | null;
  max_output_tokens: number | null;
  max_tool_calls: null;
  model: string;
  output: WireOutputItem[];
  parallel_tool_calls: boolean;
  previous_response_id: string | null;
  reasoning: { effort: string | null; summary: string | null };
  service_tier: "default";
  store: boolean;
  temperature: number;
  text: { format: Record<string, unknown> };
  tool_choice: unknown;
  tools: unknown[];
  top_logprobs: number;
  top_p: number;
  truncation: "disabled" | "auto";
  /** Absent until the response has ended. */
  usage?: WireResponseUsage;
  /** Absent unless the request named one. */
  user?: string;
  metadata: Record<string, string>;
}

export function toWireResponseUsage(usage: UsageCounts): WireResponseUsage {
  return {
    input_tokens: usage.promptTokens,
    input_tokens_details: { cached_tokens: usage.cachedTokens, cache_write_tokens: 0 },
    output_tokens: usage.completionTokens,
    output_tokens_details: { reasoning_tokens: usage.reasoningTokens },
    total_tokens: usage.promptTokens + usage.completionTokens,
  };
}

/** A failed response's `error.code`: the few of OpenAI's codes a failure here can be. */
function responseErrorCode(error: ApiError): "server_error" | "rate_limit_exceeded" | "invalid_prompt" {
  if (error.status === 429) return "rate_limit_exceeded";
  return error.status >= 500 ? "server_error" : "invalid_prompt";
}

function toWireLogprob(lp: TokenLogprob): WireOutputLogprob {
  return { token: lp.token, logprob: lp.logprob, bytes: lp.bytes, top_logprobs: lp.topLogprobs.map((t) => ({ token: t.token, logprob: t.logprob, bytes: t.bytes })) };
}

/** The function tools as the response object echoes them. */
function echoTools(request: ResponsesRequest): unknown[] {
  return (request.body.tools ?? []).map((t) => {
    const tool = t as { name?: string; description?: string | null; parameters?: Record<string, unknown> | null; strict?: boolean | null };
    return { type: "function", name: tool.name, description: tool.description ?? null, parameters: tool.parameters ?? null, strict: tool.strict ?? false };
  });
}

interface Open<T extends WireOutputItem> {
  index: number;
  item: T;
}

type MessageItem = Extract<WireOutputItem, { type: "message" }>;
type CallItem = Extract<WireOutputItem, { type: "function_call" }>;
type ReasoningItem = Extract<WireOutputItem, { type: "reasoning" }>;

export class ResponsesEncoder implements ResponseEncoder {
  readonly id = newResponseId();
  readonly terminator = null;
  readonly createdAt = Math.floor(Date.now() / 1000);
  private readonly request: ResponsesRequest;
  private readonly context: EncoderContext;
  private sequence = 0;
  private readonly output: WireOutputItem[] = [];
  private reasoning: Open<ReasoningItem> | null = null;
  private message: Open<MessageItem> | null = null;
  private readonly calls = new Map<number, Open<CallItem>>();
  private finishReason: FinishReason | null = null;
  private usage: UsageCounts | null = null;
  /** What the response says of `store`: the request's, until storing it was given up. */
  private stored: boolean;

  constructor(request: ResponsesRequest, context: EncoderContext) {
    this.request = request;
    this.context = context;
    this.stored = request.store;
  }

  /** The response will not be stored after all (it grew past the size limit): what is sent from now on says `store: false`. */
  unstored(): void {
    this.stored = false;
  }

  open(): WireFrame[] {
    return [this.frame("response.created", { response: this.snapshot("in_progress") }), this.frame("response.in_progress", { response: this.snapshot("in_progress") })];
  }

  accept(event: ChatEvent): WireFrame[] {
    if (event.type === "usage") {
      this.usage = event.usage;
      return [];
    }
    if (event.index !== 0) throw new Error(`event for unknown choice ${event.index}`);
    if (event.type === "finish") {
      this.finishReason = event.reason;
      return this.closeAll();
    }
    const frames: WireFrame[] = [];
    if (event.reasoning !== undefined && event.reasoning !== "") {
      const open = this.reasoning ?? this.openReasoning(frames);
      open.item.content[0]!.text += event.reasoning;
      frames.push(this.frame("response.reasoning_text.delta", { item_id: open.item.id, output_index: open.index, content_index: 0, delta: event.reasoning }));
    }
    if (event.content !== undefined && event.content !== "") {
      frames.push(...this.closeReasoning());
      const open = this.message ?? this.openMessage(frames);
      const part = open.item.content[0]!;
      const logprobs = (event.logprobs ?? []).map(toWireLogprob);
      part.text += event.content;
      part.logprobs.push(...logprobs);
      frames.push(this.frame("response.output_text.delta", { item_id: open.item.id, output_index: open.index, content_index: 0, delta: event.content, logprobs }));
    }
    for (const delta of event.toolCalls ?? []) {
      let open = this.calls.get(delta.index);
      if (open === undefined) {
        frames.push(...this.closeReasoning(), ...this.closeMessage());
        const item: CallItem = { type: "function_call", id: newItemId("fc"), call_id: delta.id ?? newCallId(), name: delta.name ?? "", arguments: "", status: "in_progress" };
        open = this.add(item);
        this.calls.set(delta.index, open);
        frames.push(this.frame("response.output_item.added", { output_index: open.index, item: { ...item } }));
      }
      if (delta.arguments !== undefined && delta.arguments !== "") {
        open.item.arguments += delta.arguments;
        frames.push(this.frame("response.function_call_arguments.delta", { item_id: open.item.id, output_index: open.index, delta: delta.arguments }));
      }
    }
    return frames;
  }

  finish(): WireFrame[] {
    const frames = this.closeAll();
    const status = this.status();
    frames.push(this.frame(status === "incomplete" ? "response.incomplete" : "response.completed", { response: this.snapshot(status) }));
    return frames;
  }

  failed(error: ApiError): WireFrame[] {
    return [
      this.frame("error", { code: error.code, message: error.message, param: error.param }),
      this.frame("response.failed", { response: this.snapshot("failed", { code: responseErrorCode(error), message: error.message }) }),
    ];
  }

  body(): WireResponse {
    this.closeAll();
    return this.snapshot(this.status());
  }

  /**
   * The response as it ended (for storage), once the events are done. Not
   * streaming, its items are closed here (a stream closed them in its frames).
   */
  response(): WireResponse {
    if (!this.context.request.stream) this.closeAll();
    return this.snapshot(this.status());
  }

  private status(): ResponseStatus {
    return this.finishReason === "length" ? "incomplete" : "completed";
  }

  private snapshot(status: ResponseStatus, error: { code: string; message: string } | null = null): WireResponse {
    const { body } = this.request;
    const served = this.context.request;
    return {
      id: this.id,
      object: "response",
      created_at: this.createdAt,
      status,
      background: false,
      error,
      incomplete_details: status === "incomplete" ? { reason: "max_output_tokens" } : null,
      instructions: body.instructions ?? null,
      max_output_tokens: body.max_output_tokens ?? null,
      max_tool_calls: null,
      model: served.model,
      output: status === "in_progress" ? [] : structuredClone(this.output),
      parallel_tool_calls: served.tools.parallel,
      previous_response_id: this.request.previousResponseId,
      reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
      service_tier: "default",
      store: this.stored,
      temperature: served.sampling.temperature,
      text: { format: body.text?.format ?? { type: "text" } },
      tool_choice: body.tool_choice ?? "auto",
      tools: echoTools(this.request),
      top_logprobs: body.top_logprobs ?? 0,
      top_p: served.sampling.topP,
      truncation: body.truncation ?? "disabled",
      ...(status === "in_progress" || this.usage === null ? {} : { usage: toWireResponseUsage(this.usage) }),
      ...(body.user === undefined ? {} : { user: body.user }),
      metadata: body.metadata ?? {},
    };
  }

  private frame(type: string, payload: Record<string, unknown>): WireFrame {
    return { event: type, data: { type, sequence_number: this.sequence++, ...payload } };
  }

  private add<T extends WireOutputItem>(item: T): Open<T> {
    this.output.push(item);
    return { index: this.output.length - 1, item };
  }

  private openReasoning(frames: WireFrame[]): Open<ReasoningItem> {
    const open = this.add<ReasoningItem>({ type: "reasoning", id: newItemId("rs"), summary: [], content: [{ type: "reasoning_text", text: "" }], status: "in_progress" });
    this.reasoning = open;
    frames.push(
      this.frame("response.output_item.added", { output_index: open.index, item: { ...open.item, content: [] } }),
      this.frame("response.content_part.added", { item_id: open.item.id, output_index: open.index, content_index: 0, part: { type: "reasoning_text", text: "" } }),
    );
    return open;
  }

  private openMessage(frames: WireFrame[]): Open<MessageItem> {
    const open = this.add<MessageItem>({
      type: "message",
      id: newItemId("msg"),
      status: "in_progress",
      role: "assistant",
      content: [{ type: "output_text", text: "", annotations: [], logprobs: [] }],
    });
    this.message = open;
    frames.push(
      this.frame("response.output_item.added", { output_index: open.index, item: { ...open.item, content: [] } }),
      this.frame("response.content_part.added", { item_id: open.item.id, output_index: open.index, content_index: 0, part: { type: "output_text", text: "", annotations: [], logprobs: [] } }),
    );
    return open;
  }

  private itemStatus(): ItemStatus {
    return this.finishReason === "length" ? "incomplete" : "completed";
  }

  private closeReasoning(): WireFrame[] {
    const open = this.reasoning;
    if (open === null) return [];
    this.reasoning = null;
    open.item.status = "completed";
    const part = open.item.content[0]!;
    return [
      this.frame("response.reasoning_text.done", { item_id: open.item.id, output_index: open.index, content_index: 0, text: part.text }),
      this.frame("response.content_part.done", { item_id: open.item.id, output_index: open.index, content_index: 0, part: { ...part } }),
      this.frame("response.output_item.done", { output_index: open.index, item: structuredClone(open.item) }),
    ];
  }

  private closeMessage(): WireFrame[] {
    const open = this.message;
    if (open === null) return [];
    this.message = null;
    open.item.status = this.itemStatus();
    const part = open.item.content[0]!;
    return [
      this.frame("response.output_text.done", { item_id: open.item.id, output_index: open.index, content_index: 0, text: part.text, logprobs: part.logprobs }),
      this.frame("response.content_part.done", { item_id: open.item.id, output_index: open.index, content_index: 0, part: structuredClone(part) }),
      this.frame("response.output_item.done", { output_index: open.index, item: structuredClone(open.item) }),
    ];
  }

  private closeCalls(): WireFrame[] {
    const frames: WireFrame[] = [];
    for (const open of this.calls.values()) {
      open.item.status = this.itemStatus();
      frames.push(
        this.frame("response.function_call_arguments.done", { item_id: open.item.id, output_index: open.index, name: open.item.name, arguments: open.item.arguments }),
        this.frame("response.output_item.done", { output_index: open.index, item: { ...open.item } }),
      );
    }
    this.calls.clear();
    return frames;
  }

  private closeAll(): WireFrame[] {
    return [...this.closeReasoning(), ...this.closeMessage(), ...this.closeCalls()];
  }
}
