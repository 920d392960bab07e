/**
 * Builders for chat completion bodies and stream chunks. Pure: the server
 * feeds engine events through one {@link ChatResponseBuilder}, which produces
 * either SSE chunks or, by accumulating the same events, the JSON body.
 */
import { newCompletionId } from "./ids.js";
import type { ChatDelta, ChatEvent, FinishReason, TokenLogprob, UsageCounts } from "./chat-events.js";

export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
  /** MindIE extension, opt-in: ms to the first token. */
  prefill_time?: number;
  /** MindIE extension, opt-in: ms between consecutive tokens. */
  decode_time_arr?: number[];
}

export type WireFinishReason = FinishReason | "function_call";

export interface WireLogprob {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: Array<{ token: string; logprob: number; bytes: number[] }>;
}

export interface WireLogprobs {
  content: WireLogprob[];
  refusal: null;
}

export interface WireToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface WireToolCallChunk {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments?: string };
}

export interface WireDelta {
  role?: "assistant";
  content?: string;
  refusal?: null;
  reasoning_content?: string;
  tool_calls?: WireToolCallChunk[];
  function_call?: { name?: string; arguments?: string };
}

export interface WireChunkChoice {
  index: number;
  delta: WireDelta;
  logprobs: WireLogprobs | null;
  finish_reason: WireFinishReason | null;
}

export interface WireChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: WireChunkChoice[];
  usage?: WireUsage | null;
  /** MindIE extension, opt-in: the choice's text so far. */
  full_text?: string;
}

export interface WireMessage {
  role: "assistant";
  content: string | null;
  refusal: null;
  reasoning_content?: string;
  tool_calls?: WireToolCall[];
  function_call?: { name: string; arguments: string };
}

export interface WireCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{ index: number; message: WireMessage; logprobs: WireLogprobs | null; finish_reason: WireFinishReason }>;
  usage: WireUsage;
}

export interface ResponseOptions {
  model: string;
  systemFingerprint: string;
  n: number;
  includeUsage: boolean;
  fullText: boolean;
  usageTimings: boolean;
  /** The request asked for logprobs. */
  logprobs: boolean;
  /** The request used the legacy `functions`: answer with `function_call`. */
  legacyFunctions: boolean;
}

interface ChoiceState {
  content: string;
  reasoning: string;
  toolCalls: Array<{ id: string; name: string; arguments: string }>;
  logprobs: WireLogprob[];
  finish: FinishReason | null;
  started: boolean;
}

function toWireLogprob(lp: TokenLogprob): WireLogprob {
  return { token: lp.token, logprob: lp.logprob, bytes: lp.bytes, top_logprobs: lp.topLogprobs };
}


const round3 = (ms: number): number => Math.round(ms * 1000) / 1000;

export function toWireUsage(usage: UsageCounts, withTimings: boolean): WireUsage {
  const wire: WireUsage = {
    prompt_tokens: usage.promptTokens,
    completion_tokens: usage.completionTokens,
    total_tokens: usage.promptTokens + usage.completionTokens,
    prompt_tokens_details: { cached_tokens: usage.cachedTokens, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: usage.reasoningTokens,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
  if (withTimings) {
    wire.prefill_time = round3(usage.prefillMs);
    wire.decode_time_arr = usage.decodeMs.map(round3);
  }
  return wire;
}

export class ChatResponseBuilder {
  readonly id = newCompletionId();
  readonly created = Math.floor(Date.now() / 1000);
  private readonly options: ResponseOptions;
  private readonly choices: ChoiceState[];
  private usage: UsageCounts | null = null;

  constructor(options: ResponseOptions) {
    this.options = options;
    this.choices = Array.from({ length: options.n }, () => ({
      content: "",
      reasoning: "",
      toolCalls: [],
      logprobs: [],
      finish: null,
      started: false,
    }));
  }

  /** Record an event; returns the stream chunks it becomes (possibly none). */
  accept(event: ChatEvent): WireChunk[] {
    if (event.type === "usage") {
      this.usage = event.usage;
      if (!this.options.includeUsage) return [];
      return [{ ...this.envelope([]), usage: toWireUsage(event.usage, this.options.usageTimings) }];
    }
    const choice = this.choices[event.index];
    if (choice === undefined) throw new Error(`event for unknown choice ${event.index}`);
    const out: WireChunk[] = [];
    if (!choice.started) {
      choice.started = true;
      out.push(this.chunk(event.index, { role: "assistant", content: "", refusal: null }, null, null));
    }
    if (event.type === "delta") {
      const logprobs = event.logprobs?.map(toWireLogprob) ?? [];
      choice.logprobs.push(...logprobs);
      out.push(this.chunk(event.index, this.recordDelta(choice, event), this.options.logprobs ? { content: logprobs, refusal: null } : null, null));
    } else {
      choice.finish = event.reason;
      out.push(this.chunk(event.index, {}, null, this.wireFinish(event.reason)));
    }
    return out;
  }

  /** The non-streaming body, once every event has been accepted. */
  completion(): WireCompletion {
    if (this.usage === null) throw new Error("completion() before the usage event");
    return {
      id: this.id,
      object: "chat.completion",
      created: this.created,
      model: this.options.model,
      system_fingerprint: this.options.systemFingerprint,
      choices: this.choices.map((choice, index) => ({
        index,
        message: this.message(choice),
        logprobs: this.options.logprobs ? { content: choice.logprobs, refusal: null } : null,
        finish_reason: this.wireFinish(choice.finish ?? "stop"),
      })),
      usage: toWireUsage(this.usage, this.options.usageTimings),
    };
  }

  private message(choice: ChoiceState): WireMessage {
    const calls = choice.toolCalls;
    const message: WireMessage = {
      role: "assistant",
      content: calls.length > 0 && choice.content === "" ? null : choice.content,
      refusal: null,
    };
    if (choice.reasoning !== "") message.reasoning_content = choice.reasoning;
    const [first] = calls;
    if (this.options.legacyFunctions && first !== undefined) message.function_call = { name: first.name, arguments: first.arguments };
    else if (calls.length > 0) message.tool_calls = calls.map((c) => ({ id: c.id, type: "function", function: { name: c.name, arguments: c.arguments } }));
    return message;
  }

  /** Accumulate a delta into the choice and render its wire delta. */
  private recordDelta(choice: ChoiceState, event: ChatDelta): WireDelta {
    const delta: WireDelta = {};
    if (event.reasoning !== undefined && event.reasoning !== "") {
      choice.reasoning += event.reasoning;
      delta.reasoning_content = event.reasoning;
    }
    if (event.content !== undefined && event.content !== "") {
      choice.content += event.content;
      delta.content = event.content;
    }
    for (const call of event.toolCalls ?? []) {
      const isNew = call.id !== undefined;
      if (isNew) choice.toolCalls[call.index] = { id: call.id ?? "", name: call.name ?? "", arguments: "" };
      const state = choice.toolCalls[call.index];
      if (state === undefined) throw new Error(`tool call delta for unknown call ${call.index}`);
      state.arguments += call.arguments ?? "";
      if (this.options.legacyFunctions) {
        delta.function_call = isNew ? { name: state.name, arguments: call.arguments ?? "" } : { arguments: call.arguments ?? "" };
        continue;
      }
      (delta.tool_calls ??= []).push(
        isNew
          ? { index: call.index, id: state.id, type: "function", function: { name: state.name, arguments: call.arguments ?? "" } }
          : { index: call.index, function: { arguments: call.arguments ?? "" } },
      );
    }
    return delta;
  }

  private wireFinish(reason: FinishReason): WireFinishReason {
    return reason === "tool_calls" && this.options.legacyFunctions ? "function_call" : reason;
  }

  private envelope(choices: WireChunkChoice[]): WireChunk {
    const chunk: WireChunk = {
      id: this.id,
      object: "chat.completion.chunk",
      created: this.created,
      model: this.options.model,
      system_fingerprint: this.options.systemFingerprint,
      choices,
    };
    if (this.options.includeUsage) chunk.usage = null;
    return chunk;
  }

  private chunk(index: number, delta: WireDelta, logprobs: WireLogprobs | null, finish: WireFinishReason | null): WireChunk {
    const chunk = this.envelope([{ index, delta, logprobs, finish_reason: finish }]);
    if (this.options.fullText) chunk.full_text = this.choices[index]?.content ?? "";
    return chunk;
  }
}
