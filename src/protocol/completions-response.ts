/**
 * Events → legacy completions wire output (`text_completion` objects), one
 * encoder for streaming and not: each delta becomes a chunk of the same
 * shape as the body (as OpenAI's legacy API streams), the same events
 * accumulated become the body. Logprobs in the legacy shape: `tokens`,
 * `token_logprobs`, `top_logprobs` (token → logprob dicts) and `text_offset`
 * (each token's character offset in the choice's text, an echoed prompt
 * included). With echo and logprobs the echoed prompt's tokens come first,
 * the first of them with a null logprob and null alternatives (OpenAI's and
 * vLLM's shape); a stream sends them in the choice's first chunk, with the
 * prompt.
 *
 * best_of: the engine generated `bestOf` candidates per prompt (engine choice
 * i is candidate i mod bestOf of prompt ⌊i / bestOf⌋); the body returns the
 * `n` of each prompt with the highest mean token logprob, as choices
 * prompt × n + rank. An upstream chooses its best itself (`selectedUpstream`):
 * its choices are already prompt × n + rank.
 */
import type { EncoderContext, ResponseEncoder, WireFrame } from "./api-surface.js";
import type { ChatEvent, FinishReason, PromptTokenLogprob, TokenLogprob, UsageCounts } from "./chat-events.js";
import { toWireUsage, type WireUsage } from "./chat-response.js";
import type { CompletionsRequest } from "./completions-request.js";
import type { ApiError } from "./errors.js";
import { newTextCompletionId } from "./ids.js";

export interface WireCompletionLogprobs {
  tokens: string[];
  /** Null: an echoed prompt's first token (nothing precedes it). */
  token_logprobs: Array<number | null>;
  top_logprobs: Array<Record<string, number> | null>;
  text_offset: number[];
}

export type WireTextFinishReason = "stop" | "length" | "content_filter";

export interface WireTextChoice {
  text: string;
  index: number;
  logprobs: WireCompletionLogprobs | null;
  finish_reason: WireTextFinishReason | null;
}

export interface WireTextCompletion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: WireTextChoice[];
  usage?: WireUsage | null;
}

interface CandidateState {
  text: string;
  logprobs: WireCompletionLogprobs;
  /** Sum of the sampled tokens' logprobs, for best_of (an echoed prompt's not counted). */
  logprobSum: number;
  /** Sampled tokens, for best_of's mean. */
  sampled: number;
  finish: FinishReason | null;
}

const emptyLogprobs = (): WireCompletionLogprobs => ({ tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] });

function wireFinish(reason: FinishReason): WireTextFinishReason {
  return reason === "length" || reason === "content_filter" ? reason : "stop";
}

const meanLogprob = (c: CandidateState): number => (c.sampled === 0 ? 0 : c.logprobSum / c.sampled);

/** One token's entry in the legacy shape (the first of an echoed prompt: null logprob, null alternatives). */
interface LegacyEntry {
  token: string;
  logprob: number | null;
  top: Record<string, number> | null;
  sampled: boolean;
}

function topRecord(alternatives: TokenLogprob["topLogprobs"]): Record<string, number> {
  const top: Record<string, number> = {};
  for (const alternative of alternatives) if (!(alternative.token in top)) top[alternative.token] = alternative.logprob;
  return top;
}

function legacyEntries(prompt: readonly PromptTokenLogprob[], sampled: readonly TokenLogprob[]): LegacyEntry[] {
  return [
    ...prompt.map((e) => ({ token: e.token, logprob: e.logprob, top: e.topLogprobs === null ? null : topRecord(e.topLogprobs), sampled: false })),
    ...sampled.map((e) => ({ token: e.token, logprob: e.logprob, top: topRecord(e.topLogprobs), sampled: true })),
  ];
}

export class CompletionsEncoder implements ResponseEncoder {
  readonly id = newTextCompletionId();
  readonly terminator = "[DONE]";
  private readonly created = Math.floor(Date.now() / 1000);
  private readonly candidates: CandidateState[];
  private usage: UsageCounts | null = null;
  private readonly model: string;
  private readonly systemFingerprint: string;
  private readonly includeUsage: boolean;
  /** Candidates generated per prompt; the body keeps `n` of them. */
  private readonly perPrompt: number;

  constructor(
    private readonly request: CompletionsRequest,
    context: EncoderContext,
    selectedUpstream: boolean,
  ) {
    this.model = context.request.model;
    this.systemFingerprint = context.systemFingerprint;
    this.includeUsage = context.request.includeUsage;
    this.perPrompt = selectedUpstream ? request.n : request.bestOf;
    this.candidates = Array.from({ length: request.prompts * this.perPrompt }, () => ({ text: "", logprobs: emptyLogprobs(), logprobSum: 0, sampled: 0, finish: null }));
  }

  open(): WireFrame[] {
    return [];
  }

  accept(event: ChatEvent): WireFrame[] {
    if (event.type === "usage") {
      this.usage = event.usage;
      return this.includeUsage ? [{ data: { ...this.envelope([]), usage: toWireUsage(event.usage, false) } }] : [];
    }
    const candidate = this.candidates[event.index];
    if (candidate === undefined) throw new Error(`event for unknown choice ${event.index}`);
    if (event.type === "finish") {
      candidate.finish = event.reason;
      return [this.chunk({ text: "", index: event.index, logprobs: null, finish_reason: wireFinish(event.reason) })];
    }
    const logprobs = this.recordLogprobs(candidate, legacyEntries(event.promptLogprobs ?? [], event.logprobs ?? []));
    const text = event.content ?? "";
    candidate.text += text;
    if (text === "" && (logprobs === null || logprobs.tokens.length === 0)) return [];
    return [this.chunk({ text, index: event.index, logprobs, finish_reason: null })];
  }

  finish(): WireFrame[] {
    return [];
  }

  failed(error: ApiError): WireFrame[] {
    return [{ data: error.toBody() }];
  }

  body(): WireTextCompletion {
    if (this.usage === null) throw new Error("body() before the usage event");
    const { n, prompts } = this.request;
    const choices: WireTextChoice[] = [];
    for (let prompt = 0; prompt < prompts; prompt++) {
      const own = this.candidates.slice(prompt * this.perPrompt, (prompt + 1) * this.perPrompt);
      // Stable: equally good candidates keep their order.
      const best = this.perPrompt > n ? [...own].sort((a, b) => meanLogprob(b) - meanLogprob(a)).slice(0, n) : own;
      best.forEach((candidate, rank) =>
        choices.push({
          text: candidate.text,
          index: prompt * n + rank,
          logprobs: this.request.logprobs === null ? null : candidate.logprobs,
          finish_reason: wireFinish(candidate.finish ?? "stop"),
        }),
      );
    }
    return { ...this.envelope(choices), usage: toWireUsage(this.usage, false) };
  }

  /** The delta's tokens in the legacy shape (null when the client asked for none); accumulated on the candidate. */
  private recordLogprobs(candidate: CandidateState, entries: readonly LegacyEntry[]): WireCompletionLogprobs | null {
    const out = emptyLogprobs();
    // Offsets count from the text before this delta: an echoed prompt (unless its tokens come with it), earlier tokens.
    let offset = candidate.logprobs.tokens.length === 0 ? candidate.text.length : this.nextOffset(candidate);
    for (const entry of entries) {
      out.tokens.push(entry.token);
      out.token_logprobs.push(entry.logprob);
      out.top_logprobs.push(entry.top);
      out.text_offset.push(offset);
      offset += entry.token.length;
      if (entry.sampled && entry.logprob !== null) {
        candidate.logprobSum += entry.logprob;
        candidate.sampled++;
      }
    }
    candidate.logprobs.tokens.push(...out.tokens);
    candidate.logprobs.token_logprobs.push(...out.token_logprobs);
    candidate.logprobs.top_logprobs.push(...out.top_logprobs);
    candidate.logprobs.text_offset.push(...out.text_offset);
    return this.request.logprobs === null ? null : out;
  }

  private nextOffset(candidate: CandidateState): number {
    const { tokens, text_offset } = candidate.logprobs;
    const last = tokens.length - 1;
    return (text_offset[last] ?? 0) + (tokens[last]?.length ?? 0);
  }

  private envelope(choices: WireTextChoice[]): WireTextCompletion {
    const out: WireTextCompletion = { id: this.id, object: "text_completion", created: this.created, model: this.model, system_fingerprint: this.systemFingerprint, choices };
    if (this.includeUsage) out.usage = null;
    return out;
  }

  private chunk(choice: WireTextChoice): WireFrame {
    return { data: this.envelope([choice]) };
  }
}
