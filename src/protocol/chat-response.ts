/**
 * Builders for chat completion bodies and stream chunks. Pure: the server
 * feeds engine events through one {@link ChatResponseBuilder}, which produces
 * either SSE chunks or, by accumulating the same events, the JSON body.
 */
import { randomBytes } from "node:crypto";
import type { ChatEvent, FinishReason, UsageCounts } from "./chat-events.js";

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

export interface WireChunkChoice {
  index: number;
  delta: { role?: "assistant"; content?: string; refusal?: null };
  logprobs: null;
  finish_reason: FinishReason | null;
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

export interface WireCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: Array<{
    index: number;
    message: { role: "assistant"; content: string; refusal: null };
    logprobs: null;
    finish_reason: FinishReason;
  }>;
  usage: WireUsage;
}

export interface ResponseOptions {
  model: string;
  systemFingerprint: string;
  n: number;
  includeUsage: boolean;
  fullText: boolean;
  usageTimings: boolean;
}

export function newCompletionId(): string {
  return `chatcmpl-${randomBytes(12).toString("base64url")}`;
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
  private readonly texts: string[];
  private readonly finishes: Array<FinishReason | null>;
  private readonly started: boolean[];
  private usage: UsageCounts | null = null;

  constructor(options: ResponseOptions) {
    this.options = options;
    this.texts = Array.from({ length: options.n }, () => "");
    this.finishes = Array.from({ length: options.n }, () => null);
    this.started = Array.from({ length: options.n }, () => false);
  }

  /** Record an event; returns the stream chunks it becomes (possibly none). */
  accept(event: ChatEvent): WireChunk[] {
    if (event.type === "usage") {
      this.usage = event.usage;
      if (!this.options.includeUsage) return [];
      return [{ ...this.envelope([]), usage: toWireUsage(event.usage, this.options.usageTimings) }];
    }
    const out: WireChunk[] = [];
    if (!this.started[event.index]) {
      this.started[event.index] = true;
      out.push(this.chunk(event.index, { role: "assistant", content: "", refusal: null }, null));
    }
    if (event.type === "delta") {
      this.texts[event.index] += event.content;
      out.push(this.chunk(event.index, { content: event.content }, null));
    } else {
      this.finishes[event.index] = event.reason;
      out.push(this.chunk(event.index, {}, event.reason));
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
      choices: this.texts.map((content, index) => ({
        index,
        message: { role: "assistant", content, refusal: null },
        logprobs: null,
        finish_reason: this.finishes[index] ?? "stop",
      })),
      usage: toWireUsage(this.usage, this.options.usageTimings),
    };
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

  private chunk(index: number, delta: WireChunkChoice["delta"], finish: FinishReason | null): WireChunk {
    const chunk = this.envelope([{ index, delta, logprobs: null, finish_reason: finish }]);
    if (this.options.fullText) chunk.full_text = this.texts[index] ?? "";
    return chunk;
  }
}
