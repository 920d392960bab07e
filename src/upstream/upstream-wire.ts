/**
 * The upstream's OpenAI dialect → chatport's ChatEvents: stream chunks and
 * whole completions decode into the same deltas, finishes and usage, so the
 * response builder renders upstream and local models alike.
 *
 * Accepts the variants real servers send: `reasoning_content` (vLLM, SGLang,
 * llama-server) or `reasoning` (newer vLLM, Ollama), tool calls whose id is
 * missing or repeated on every chunk, the legacy `function_call`, logprobs
 * without `bytes`, usage in every chunk or only in the last.
 */
import type { ChatDelta, ChatEvent, FinishReason, PromptTokenLogprob, ToolCallDelta, TokenLogprob, TopLogprob, UsageCounts } from "../protocol/chat-events.js";
import { newCallId } from "../protocol/ids.js";
import { promptLogprobsOf, textCompletionAsChat } from "./completions-wire.js";

export type JsonRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function str(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function num(value: unknown): number | undefined {
  return typeof value === "number" && Number.isFinite(value) ? value : undefined;
}

function utf8Bytes(text: string): number[] {
  return Array.from(Buffer.from(text, "utf8"));
}

function toBytes(value: unknown, token: string): number[] {
  if (Array.isArray(value) && value.every((b) => typeof b === "number")) return value as number[];
  return utf8Bytes(token);
}

function topLogprob(raw: unknown): TopLogprob | null {
  if (!isRecord(raw)) return null;
  const token = str(raw.token) ?? "";
  return { token, logprob: num(raw.logprob) ?? -9999, bytes: toBytes(raw.bytes, token) };
}

function tokenLogprobs(raw: unknown): TokenLogprob[] | undefined {
  if (!isRecord(raw) || !Array.isArray(raw.content) || raw.content.length === 0) return undefined;
  const out: TokenLogprob[] = [];
  for (const entry of raw.content) {
    const top = topLogprob(entry);
    if (top === null || !isRecord(entry)) continue;
    const alternatives: TopLogprob[] = [];
    if (Array.isArray(entry.top_logprobs)) {
      for (const alt of entry.top_logprobs) {
        const parsed = topLogprob(alt);
        if (parsed !== null) alternatives.push(parsed);
      }
    }
    out.push({ ...top, topLogprobs: alternatives });
  }
  return out.length > 0 ? out : undefined;
}

export function toFinishReason(raw: unknown): FinishReason | null {
  switch (raw) {
    case undefined:
    case null:
      return null;
    case "stop":
    case "length":
    case "tool_calls":
    case "content_filter":
      return raw;
    case "function_call":
      return "tool_calls";
    default:
      // "abort", "error", "eos" and friends: the choice ended.
      return "stop";
  }
}

export interface UpstreamUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

function parseUsage(raw: unknown): UpstreamUsage | null {
  if (!isRecord(raw)) return null;
  const prompt = num(raw.prompt_tokens);
  const completion = num(raw.completion_tokens);
  if (prompt === undefined && completion === undefined) return null;
  const promptDetails = isRecord(raw.prompt_tokens_details) ? raw.prompt_tokens_details : {};
  const completionDetails = isRecord(raw.completion_tokens_details) ? raw.completion_tokens_details : {};
  return {
    promptTokens: prompt ?? 0,
    completionTokens: completion ?? 0,
    cachedTokens: num(promptDetails.cached_tokens) ?? 0,
    reasoningTokens: num(completionDetails.reasoning_tokens) ?? 0,
  };
}


/**
 * Decodes one attempt's response. Create one per attempt: a retry starts
 * from nothing (nothing of a failed attempt reached the client).
 */
export class ResponseDecoder {
  /** The latest usage the upstream reported, if any. */
  usage: UpstreamUsage | null = null;
  /** Deltas carrying content, reasoning or tool-call text: the completion estimate. */
  tokenDeltas = 0;
  reasoningDeltas = 0;
  /** Upstream sent `data: [DONE]`. */
  done = false;
  private readonly finished: boolean[];
  private readonly seenCalls: Array<Set<number>>;
  private firstDeltaAt: number | null = null;
  private lastDeltaAt = 0;
  private readonly decodeMs: number[] = [];

  constructor(
    private readonly n: number,
    /** performance.now() when the request was admitted (prefill time is measured from it). */
    private readonly startedAt: number,
    /** The prompt's estimated size, reported when the upstream reports no usage. */
    private readonly promptEstimate: number,
  ) {
    this.finished = Array.from({ length: n }, () => false);
    this.seenCalls = Array.from({ length: n }, () => new Set<number>());
  }

  /** Every choice got its finish_reason. */
  allFinished(): boolean {
    return this.finished.every(Boolean);
  }

  /**
   * One streamed `chat.completion.chunk` → events appended to `out`.
   * Returns the chunk itself when it is an in-stream error object.
   */
  chunk(chunk: unknown, out: ChatEvent[]): JsonRecord | null {
    const json = textCompletionAsChat(chunk);
    if (!isRecord(json)) return null;
    if (json.error !== undefined && json.error !== null) return json;
    if (json.object === "error") return json;
    const usage = parseUsage(json.usage);
    if (usage !== null) this.usage = usage;
    if (!Array.isArray(json.choices)) return null;
    for (const choice of json.choices) {
      if (!isRecord(choice)) continue;
      const index = num(choice.index) ?? 0;
      if (index < 0 || index >= this.n || !Number.isInteger(index)) continue;
      const delta = isRecord(choice.delta) ? choice.delta : {};
      this.emitDelta(index, delta, tokenLogprobs(choice.logprobs), false, out, promptLogprobsOf(choice));
      this.emitFinish(index, choice.finish_reason, out);
    }
    return null;
  }

  /** A whole `chat.completion` body → events. False when it is not one. */
  completion(body: unknown, out: ChatEvent[]): boolean {
    const json = textCompletionAsChat(body);
    if (!isRecord(json) || !Array.isArray(json.choices)) return false;
    const usage = parseUsage(json.usage);
    if (usage !== null) this.usage = usage;
    for (const choice of json.choices) {
      if (!isRecord(choice)) continue;
      const index = num(choice.index) ?? 0;
      if (index < 0 || index >= this.n || !Number.isInteger(index)) continue;
      const message = isRecord(choice.message) ? choice.message : {};
      this.emitDelta(index, message, tokenLogprobs(choice.logprobs), true, out, promptLogprobsOf(choice));
      this.emitFinish(index, choice.finish_reason ?? "stop", out);
    }
    this.done = true;
    return true;
  }

  /** `prompt`: a legacy completion's echoed prompt logprobs (completions-wire.ts). */
  private emitDelta(index: number, raw: JsonRecord, logprobs: TokenLogprob[] | undefined, whole: boolean, out: ChatEvent[], prompt?: PromptTokenLogprob[]): void {
    const content = str(raw.content);
    const reasoning = str(raw.reasoning_content) ?? str(raw.reasoning);
    const toolCalls = this.toolCalls(index, raw);
    const hasContent = content !== undefined && content !== "";
    const hasReasoning = reasoning !== undefined && reasoning !== "";
    if (!hasContent && !hasReasoning && toolCalls === undefined && logprobs === undefined && prompt === undefined) return;

    const event: ChatDelta = { type: "delta", index };
    if (hasContent) event.content = content;
    if (hasReasoning) event.reasoning = reasoning;
    if (toolCalls !== undefined) event.toolCalls = toolCalls;
    if (logprobs !== undefined) event.logprobs = logprobs;
    if (prompt !== undefined) event.promptLogprobs = prompt;
    out.push(event);

    if (hasContent || hasReasoning || toolCalls !== undefined) {
      if (whole) {
        // Non-streaming without usage: the logprobs count, else ~4 characters a token.
        const text = (content ?? "").length + (reasoning ?? "").length + (toolCalls ?? []).reduce((s, c) => s + (c.arguments ?? "").length, 0);
        this.tokenDeltas += logprobs?.length ?? Math.max(1, Math.ceil(text / 4));
        if (hasReasoning) this.reasoningDeltas += Math.max(1, Math.ceil(reasoning.length / 4));
      } else {
        this.tokenDeltas += 1;
        if (hasReasoning) this.reasoningDeltas += 1;
      }
      const now = performance.now();
      if (this.firstDeltaAt === null) this.firstDeltaAt = now;
      else if (index === 0 && !whole) this.decodeMs.push(now - this.lastDeltaAt);
      if (index === 0) this.lastDeltaAt = now;
    }
  }

  /** tool_calls (or legacy function_call) → deltas the builder accepts: id and name exactly once per call. */
  private toolCalls(index: number, raw: JsonRecord): ToolCallDelta[] | undefined {
    const seen = this.seenCalls[index];
    if (seen === undefined) return undefined;
    const calls: Array<{ index: number; id?: string; name?: string; arguments?: string }> = [];
    if (Array.isArray(raw.tool_calls)) {
      raw.tool_calls.forEach((call: unknown, position: number) => {
        if (!isRecord(call)) return;
        const fn = isRecord(call.function) ? call.function : {};
        calls.push({ index: num(call.index) ?? position, id: str(call.id), name: str(fn.name), arguments: str(fn.arguments) });
      });
    } else if (isRecord(raw.function_call)) {
      calls.push({ index: 0, name: str(raw.function_call.name), arguments: str(raw.function_call.arguments) });
    }
    if (calls.length === 0) return undefined;
    const out: ToolCallDelta[] = [];
    for (const call of calls) {
      if (!seen.has(call.index)) {
        seen.add(call.index);
        out.push({ index: call.index, id: call.id ?? newCallId(), name: call.name ?? "", arguments: call.arguments ?? "" });
      } else if (call.arguments !== undefined && call.arguments !== "") {
        out.push({ index: call.index, arguments: call.arguments });
      }
    }
    return out.length > 0 ? out : undefined;
  }

  private emitFinish(index: number, raw: unknown, out: ChatEvent[]): void {
    const reason = toFinishReason(raw);
    if (reason === null || this.finished[index] === true) return;
    this.finished[index] = true;
    out.push({ type: "finish", index, reason });
  }

  /**
   * The usage event: the upstream's own numbers when it reported them;
   * otherwise an estimate, marked as one — prompt tokens as given to the
   * constructor (protocol/prompt-estimate.ts), completion tokens = the number
   * of content/reasoning/tool-call deltas received (servers stream about one
   * token per chunk), reasoning tokens likewise.
   */
  usageCounts(): UsageCounts {
    const timing = {
      prefillMs: this.firstDeltaAt === null ? 0 : this.firstDeltaAt - this.startedAt,
      decodeMs: this.decodeMs,
    };
    if (this.usage !== null) return { ...this.usage, ...timing };
    return {
      promptTokens: this.promptEstimate,
      completionTokens: this.tokenDeltas,
      cachedTokens: 0,
      reasoningTokens: this.reasoningDeltas,
      ...timing,
      estimated: true,
    };
  }
}

/** What the upstream engine needs of a decoder of one attempt's answer (chat chunks, Responses events, embeddings). */
export type UpstreamDecoder = Pick<ResponseDecoder, "completion" | "chunk" | "done" | "allFinished" | "usageCounts">;
